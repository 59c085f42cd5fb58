"""ControlApi: the HTTP API operators drive runs with (start, stop, inject fault, export, list)."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.access_logs import logged_http_stage
from stacks.constructs.fault_templates import grant_start_experiments, grant_stop_experiments
from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.constructs.operators import Operators
from stacks.constructs.results_store import RESULTS_PREFIX
from stacks.nag import acknowledge

PUBLIC_READS = ("/profiles", "/profiles/{name}", "/benchmarks")


class ControlApi(Construct):
    """HTTP API whose every route needs an operator pool JWT, served by the control_api handler.

    The handler's Powertools resolver owns the paths (`/{proxy+}`); CORS preflights are answered
    by API Gateway for the dashboard's origin only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        operators: Operators,
        table: dynamodb.ITable,
        state_machine: sfn.IStateMachine,
        results_bucket: s3.IBucket,
        viewer_link_key: secretsmanager.ISecret,
        presentation_url: str,
        max_tps: int,
        max_duration_s: int,
        max_workers: int,
        fault_templates_json: str,
        fault_template_arns: list[str],
        allowed_origin: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = functions.build(
            self,
            "Handler",
            FunctionSpec(
                handler="lambdas.control_api.handler",
                description="control API (start/stop runs, inject faults, export, list runs)",
                environment={
                    "TABLE_NAME": table.table_name,
                    "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                    "RESULTS_BUCKET": results_bucket.bucket_name,
                    "VIEWER_LINK_SECRET_ARN": viewer_link_key.secret_arn,
                    "PRESENTATION_URL": presentation_url,
                    "MAX_TPS": str(max_tps),
                    "MAX_DURATION_S": str(max_duration_s),
                    "MAX_WORKERS": str(max_workers),
                    "FAULT_TEMPLATES": fault_templates_json,
                    # Experiments it starts carry the stack's tag, which its grants require.
                    "STACK_NAME": Stack.of(self).stack_name,
                },
                memory_mb=512,
                timeout=Duration.seconds(29),
            ),
        )
        self._grant_handler(
            table, state_machine, results_bucket, viewer_link_key, fault_template_arns
        )
        self.api = self._build_api(operators, allowed_origin)
        self.stage = self._build_stage(log_retention)

    @property
    def url(self) -> str:
        return self.stage.url

    def _grant_handler(
        self,
        table: dynamodb.ITable,
        state_machine: sfn.IStateMachine,
        results_bucket: s3.IBucket,
        viewer_link_key: secretsmanager.ISecret,
        fault_template_arns: list[str],
    ) -> None:
        handler: _lambda.Function = self.handler
        # The table holds the runs and the stop flags Stop and the kill switch write.
        table.grant_read_write_data(handler)
        state_machine.grant_start_execution(handler)
        state_machine.grant_execution(handler, "states:DescribeExecution", "states:StopExecution")
        # Exports are pre-signed GET URLs (the signer needs the read itself) of existing files.
        handler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
            )
        )
        handler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[results_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{RESULTS_PREFIX}*"]}},
            )
        )
        # "Share presentation link" signs viewer tokens with the key.
        viewer_link_key.grant_read(handler)
        grant_start_experiments(self, handler, fault_template_arns)
        grant_stop_experiments(self, handler)

    def _build_api(self, operators: Operators, allowed_origin: str) -> apigwv2.HttpApi:
        api = apigwv2.HttpApi(
            self,
            "Api",
            description="stresslab control API",
            create_default_stage=False,
            default_authorizer=authorizers.HttpUserPoolAuthorizer(
                "OperatorsAuthorizer",
                operators.user_pool,
                user_pool_clients=[operators.client],
            ),
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=[allowed_origin],
                allow_methods=[
                    apigwv2.CorsHttpMethod.GET,
                    apigwv2.CorsHttpMethod.POST,
                    apigwv2.CorsHttpMethod.DELETE,
                ],
                allow_headers=["Authorization", "Content-Type"],
                max_age=Duration.hours(1),
            ),
        )
        integration = integrations.HttpLambdaIntegration("Handler", self.handler)
        # Not ANY: OPTIONS must stay unrouted so API Gateway answers CORS preflights itself.
        api.add_routes(
            path="/{proxy+}",
            methods=[apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST, apigwv2.HttpMethod.DELETE],
            integration=integration,
        )
        # The presentation page's wording profiles and sourced benchmarks are shown to viewers
        # without an account (a viewer link): public reads of bundled files.
        for path in PUBLIC_READS:
            for route in api.add_routes(path=path, methods=[apigwv2.HttpMethod.GET],
                                        integration=integration,
                                        authorizer=apigwv2.HttpNoneAuthorizer()):
                acknowledge(route, "AwsSolutions-APIG4",
                            "Presentation wording and sourced benchmark figures, read from "
                            "bundled files, are shown to investors who hold no account.")
        return api

    def _build_stage(self, log_retention: logs.RetentionDays) -> apigwv2.HttpStage:
        return logged_http_stage(
            self,
            self.api,
            log_retention=log_retention,
            throttle=apigwv2.ThrottleSettings(rate_limit=20, burst_limit=40),
        )
