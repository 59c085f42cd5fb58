"""ReferenceTarget: the bundled reference fraud service as a Lambda behind an HTTP API."""

from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.constructs.access_logs import logged_http_stage
from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.nag import acknowledge
from stresslab.aws.target_key import API_KEY_HEADER, TARGET_KEY_TAG


class ReferenceTarget(Construct):
    """Orchestrator and four agents in one function behind an HTTP API, Bedrock optional.

    It stands in for the real platform so a team can try a whole run; it holds no data. Its
    function has reserved concurrency (a run cannot starve the account, Stop and cleanup among
    it) and its API answers only requests with the key kept in `key_secret` (x-api-key, checked
    by a Lambda authorizer whose answers API Gateway caches): the load generators read it from
    Secrets Manager, it is in no output.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        bedrock_enabled: bool,
        bedrock_model_id: str,
        reserved_concurrency: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = self._build_function(
            functions, bedrock_enabled, bedrock_model_id, reserved_concurrency
        )
        self.key_secret = self._build_key_secret()
        self.authorizer_function = self._build_authorizer_function(functions)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="stresslab reference fraud-detection service (a load-test target)",
            create_default_stage=False,
            default_integration=integrations.HttpLambdaIntegration("Service", self.function),
            default_authorizer=authorizers.HttpLambdaAuthorizer(
                "TargetKey",
                self.authorizer_function,
                response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
                identity_source=[f"$request.header.{API_KEY_HEADER}"],
                results_cache_ttl=Duration.minutes(5),
            ),
        )
        self.stage = logged_http_stage(
            self,
            self.api,
            log_retention=log_retention,
            throttle=apigwv2.ThrottleSettings(rate_limit=10_000, burst_limit=5_000),
        )

    @property
    def url(self) -> str:
        return self.stage.url

    def _build_key_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "KeySecret",
            description="stresslab reference target: the x-api-key its API requires",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=40, exclude_punctuation=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The load generators may read secrets with this tag, and no others.
        Tags.of(secret).add(TARGET_KEY_TAG, "true")
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "A key that keeps strangers off a synthetic load-test target; operators rotate it "
            "with put-secret-value (docs/deploy.md) and it takes hold within five minutes.",
        )
        return secret

    def _build_authorizer_function(self, functions: FunctionFactory) -> _lambda.Function:
        function = functions.build(
            self,
            "Authorizer",
            FunctionSpec(
                handler="lambdas.reference_target_authorizer.handler",
                description="reference target authorizer (x-api-key against its secret)",
                environment={"TARGET_KEY_SECRET_ARN": self.key_secret.secret_arn},
                timeout=Duration.seconds(10),
            ),
        )
        self.key_secret.grant_read(function)
        return function

    def _build_function(
        self,
        functions: FunctionFactory,
        bedrock_enabled: bool,
        bedrock_model_id: str,
        reserved_concurrency: int,
    ) -> _lambda.Function:
        function = functions.build(
            self,
            "Service",
            FunctionSpec(
                handler="lambdas.reference_target.handler",
                description="reference fraud-detection service (orchestrator + 4 agents)",
                environment={
                    "BEDROCK_ENABLED": "true" if bedrock_enabled else "false",
                    "BEDROCK_MODEL_ID": bedrock_model_id,
                },
                memory_mb=1024,
                timeout=Duration.seconds(15),
                reserved_concurrency=reserved_concurrency,
            ),
        )
        if bedrock_enabled:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["bedrock:InvokeModel"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="bedrock",
                            account="",
                            resource="foundation-model",
                            resource_name=bedrock_model_id,
                        )
                    ],
                )
            )
        return function
