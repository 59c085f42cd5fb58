"""ReferenceTarget: the bundled reference fraud service as a Lambda behind an HTTP API."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.access_logs import HTTP_FIELDS, StageAccessLogs
from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.nag import acknowledge


class ReferenceTarget(Construct):
    """Orchestrator and four agents in one function, public and throttled, Bedrock optional.

    It stands in for the real platform so a team can try a whole run; it holds no data.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        bedrock_enabled: bool,
        bedrock_model_id: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = self._build_function(functions, bedrock_enabled, bedrock_model_id)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="stresslab reference fraud-detection service (a load-test target)",
            create_default_stage=False,
            default_integration=integrations.HttpLambdaIntegration("Service", self.function),
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "A synthetic load-test target: it scores generated transactions, stores nothing, "
            "and its stage is throttled.",
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=StageAccessLogs(
                self, "AccessLogs", retention=log_retention, fields=HTTP_FIELDS
            ),
            throttle=apigwv2.ThrottleSettings(rate_limit=10_000, burst_limit=5_000),
        )

    @property
    def url(self) -> str:
        return self.stage.url

    def _build_function(
        self, functions: FunctionFactory, bedrock_enabled: bool, bedrock_model_id: str
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
