"""DashboardSite: the dashboards on a private S3 bucket behind CloudFront, with config.json."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from stacks.nag import acknowledge

PRESENTATION_PAGE = "presentation.html"
ADMIN_PAGE = "admin.html"

# Shown when the site has not been built (`npm run build` in dashboard_site/), so that synthesis
# works on a fresh clone; deploying again after a build replaces it.
_PLACEHOLDER_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>stresslab</title>"
    "<body><h1>stresslab</h1><p>The dashboard site was not built when this stack was "
    "synthesized. Run <code>npm ci &amp;&amp; npm run build</code> in dashboard_site/ and "
    "deploy again.</p></body></html>"
)


class DashboardSite(Construct):
    """Private bucket, CloudFront with origin access control and security headers.

    `publish(config)` uploads the built site (or a placeholder page) and config.json written
    from stack values, then invalidates the distribution.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_dir: Path,
        access_log_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._site_dir = site_dir
        self.bucket = self._build_bucket(access_log_bucket)
        self.distribution = self._build_distribution()

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"

    def page_url(self, page: str) -> str:
        return f"{self.url}/{page}"

    def publish(self, config: Mapping[str, Any]) -> s3deploy.BucketDeployment:
        site = (
            s3deploy.Source.asset(str(self._site_dir))
            if (self._site_dir / "index.html").is_file()
            else s3deploy.Source.data("index.html", _PLACEHOLDER_PAGE)
        )
        deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            destination_bucket=self.bucket,
            sources=[site, s3deploy.Source.json_data("config.json", dict(config))],
            distribution=self.distribution,
            distribution_paths=["/*"],
            # Removing the stack empties the bucket, so the bucket itself can go too.
            retain_on_delete=False,
            memory_limit=512,
        )
        self._acknowledge_deployment_handler()
        return deployment

    def _build_bucket(self, access_log_bucket: s3.IBucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="dashboard-site/",
            # Rebuilt from dashboard_site/ on every deploy.
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_distribution(self) -> cloudfront.Distribution:
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="stresslab dashboards",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self._build_security_headers(),
                compress=True,
            ),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "The presentation is shown to investors wherever they are; nothing served is "
            "region-restricted.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR2",
            "The site is static files that write nothing; the APIs it calls are authorised and "
            "throttled at API Gateway, so a WAF web ACL would add cost without protecting data.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR3",
            "CloudFront standard logs need an ACL-enabled bucket, which the account's "
            "ownership-enforced buckets forbid; origin requests are logged by S3 server "
            "access logging of the site bucket.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR4",
            "The distribution uses the default *.cloudfront.net certificate, whose security "
            "policy CloudFront fixes; a custom domain with an ACM certificate is out of scope.",
        )
        return distribution

    def _build_security_headers(self) -> cloudfront.ResponseHeadersPolicy:
        region = Stack.of(self).region
        # The APIs are only known as *.execute-api hosts here: naming them would make the
        # distribution depend on the control API, whose CORS origin is this distribution.
        content_security_policy = "; ".join(
            [
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self' 'unsafe-inline'",
                "img-src 'self' data: blob:",
                "font-src 'self' data:",
                f"connect-src 'self' https://*.execute-api.{region}.amazonaws.com "
                f"wss://*.execute-api.{region}.amazonaws.com "
                f"https://cognito-idp.{region}.amazonaws.com",
                "object-src 'none'",
                "base-uri 'self'",
                "frame-ancestors 'none'",
            ]
        )
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="stresslab dashboards: HSTS, CSP, no framing, no sniffing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365 * 2),
                    include_subdomains=True,
                    override=True,
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(
                    protection=True, mode_block=True, override=True
                ),
            ),
        )

    def _acknowledge_deployment_handler(self) -> None:
        # BucketDeployment's handler is a CDK-managed singleton at stack level.
        stack = Stack.of(self)
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    "CDK's BucketDeployment handler is managed by aws-cdk-lib and uses "
                    "AWSLambdaBasicExecutionRole for its own logs.",
                )
                acknowledge(
                    child,
                    "AwsSolutions-L1",
                    "aws-cdk-lib pins the runtime of its BucketDeployment handler.",
                )
