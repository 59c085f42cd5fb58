"""ResultsStore: the S3 bucket for run reports, with its server access log bucket."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

# Every run writes its outputs under runs/<run_id>/ (stresslab/aws/results.py).
RESULTS_PREFIX = "runs/"

# Noncurrent report versions only exist to undo an accidental overwrite or delete.
_NONCURRENT_VERSION_DAYS = 7


class ResultsStore(Construct):
    """Versioned, encrypted, SSL-only bucket for run reports whose access is logged."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        results_retention_days: int,
        access_log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_bucket = self._build_access_log_bucket(access_log_retention_days)
        self.bucket = self._build_results_bucket(results_retention_days)

    def _build_access_log_bucket(self, retention_days: int) -> s3.Bucket:
        # No access logs of its own: cdk-nag's S1 accepts a bucket that is a log destination.
        return s3.Bucket(
            self,
            "AccessLogBucket",
            # S3 server access logging can only deliver to SSE-S3 buckets, not SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _build_results_bucket(self, retention_days: int) -> s3.Bucket:
        return s3.Bucket(
            self,
            "ResultsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="results-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireReports",
                    # config/ holds what the stack writes for its functions; it must not expire.
                    prefix=RESULTS_PREFIX,
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(_NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
