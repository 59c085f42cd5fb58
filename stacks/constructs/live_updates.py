"""LiveUpdates: the API Gateway WebSocket API that pushes stresslab.live/v1 messages to browsers."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.constructs.access_logs import WEBSOCKET_FIELDS, StageAccessLogs
from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.constructs.operators import Operators
from stacks.nag import acknowledge

STAGE_NAME = "live"
# Viewer links last at most a day, so a monthly key rotation never cuts one short: links signed
# with the previous key are still accepted (docs/security.md).
VIEWER_KEY_ROTATION = Duration.days(30)

_ROUTE_AUTH_REASON = (
    "API Gateway authorises WebSockets only at $connect, and browsers cannot send headers "
    "there: the ws_connect handler verifies the operator's Cognito JWT or the viewer link's "
    "signed token "
    "from the query string and refuses the connection otherwise."
)


class LiveUpdates(Construct):
    """WebSocket API with $connect/$disconnect/$default handlers on one auto-deployed stage.

    `grant_push` lets another function post to connections (execute-api:ManageConnections on
    POST @connections of this stage only); `management_endpoint` is its WS_ENDPOINT.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        operators: Operators,
        env_name: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions = functions
        self._table = table
        self.viewer_link_key = self._build_viewer_link_key()
        self.connect_handler = self._build_connect_handler(operators)
        self.disconnect_handler = self._build_handler(
            "DisconnectHandler", "lambdas.ws_disconnect.handler", "WebSocket $disconnect"
        )
        self.api = self._build_api()
        self.stage = self._build_stage(log_retention)
        self.default_handler = self._build_default_handler()

    @property
    def url(self) -> str:
        """wss:// URL the browsers connect to."""
        return self.stage.url

    @property
    def management_endpoint(self) -> str:
        """https:// URL of the management API (PostToConnection), passed as WS_ENDPOINT."""
        return self.stage.callback_url

    def grant_push(self, function: _lambda.IFunction) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["execute-api:ManageConnections"],
                resources=[
                    Stack.of(self).format_arn(
                        service="execute-api",
                        resource=self.api.api_id,
                        resource_name=f"{self.stage.stage_name}/POST/@connections/*",
                    )
                ],
            )
        )

    def _build_viewer_link_key(self) -> secretsmanager.Secret:
        """The HMAC key of viewer links: random, in Secrets Manager, rotated by a function."""
        key = secretsmanager.Secret(
            self,
            "ViewerLinkKey",
            description="stresslab: signs the read-only viewer links of the presentation page",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        rotation = self._functions.build(
            self,
            "ViewerLinkKeyRotation",
            FunctionSpec(
                handler="lambdas.rotate_viewer_key.handler",
                description="rotates the viewer-link signing key (Secrets Manager rotation)",
                environment={},
            ),
        )
        key.add_rotation_schedule(
            "Rotation", rotation_lambda=rotation, automatically_after=VIEWER_KEY_ROTATION
        )
        return key

    def _build_handler(
        self,
        construct_id: str,
        handler: str,
        description: str,
        environment: dict[str, str] | None = None,
    ) -> _lambda.Function:
        function = self._functions.build(
            self,
            construct_id,
            FunctionSpec(
                handler=handler,
                description=description,
                environment={"TABLE_NAME": self._table.table_name, **(environment or {})},
            ),
        )
        self._table.grant_read_write_data(function)
        return function

    def _build_connect_handler(self, operators: Operators) -> _lambda.Function:
        function = self._build_handler(
            "ConnectHandler",
            "lambdas.ws_connect.handler",
            "WebSocket $connect (authorises viewers and operators)",
            {
                "VIEWER_LINK_SECRET_ARN": self.viewer_link_key.secret_arn,
                "USER_POOL_ID": operators.user_pool.user_pool_id,
                "USER_POOL_CLIENT_ID": operators.client.user_pool_client_id,
            },
        )
        self.viewer_link_key.grant_read(function)
        return function

    def _build_default_handler(self) -> _lambda.Function:
        function = self._build_handler(
            "DefaultHandler",
            "lambdas.ws_default.handler",
            "WebSocket $default (answers or rejects client messages)",
            {"WS_ENDPOINT": self.management_endpoint},
        )
        self.grant_push(function)
        self.api.add_route(
            "$default",
            integration=integrations.WebSocketLambdaIntegration("DefaultIntegration", function),
        )
        return function

    def _build_api(self) -> apigwv2.WebSocketApi:
        api = apigwv2.WebSocketApi(
            self,
            "Api",
            description="stresslab live updates (stresslab.live/v1)",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(
                    "ConnectIntegration", self.connect_handler
                )
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(
                    "DisconnectIntegration", self.disconnect_handler
                )
            ),
        )
        acknowledge(api, "AwsSolutions-APIG4", _ROUTE_AUTH_REASON)
        return api

    def _build_stage(self, log_retention: logs.RetentionDays) -> apigwv2.WebSocketStage:
        return apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            access_log_settings=StageAccessLogs(
                self, "AccessLogs", retention=log_retention, fields=WEBSOCKET_FIELDS
            ),
            throttle=apigwv2.ThrottleSettings(rate_limit=100, burst_limit=200),
        )
