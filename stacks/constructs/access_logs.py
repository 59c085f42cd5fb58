"""JSON access logs of an API Gateway v2 stage, written to its own log group; the HTTP stage."""

import json
from collections.abc import Mapping

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_logs as logs
from constructs import Construct

HTTP_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}

WEBSOCKET_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class StageAccessLogs:
    """Access-log settings for `WebSocketStage`/`HttpStage`, with a log group made in `scope`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retention: logs.RetentionDays,
        fields: Mapping[str, str],
    ) -> None:
        self.log_group = logs.LogGroup(
            scope, construct_id, retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
        self._destination = apigwv2.LogGroupLogDestination(self.log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps(dict(fields)))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def logged_http_stage(
    scope: Construct,
    api: apigwv2.IHttpApi,
    *,
    log_retention: logs.RetentionDays,
    throttle: apigwv2.ThrottleSettings,
) -> apigwv2.HttpStage:
    """The auto-deployed `$default` stage of `api`, throttled, with JSON access logs."""
    return apigwv2.HttpStage(
        scope,
        "Stage",
        http_api=api,
        stage_name="$default",
        auto_deploy=True,
        access_log_settings=StageAccessLogs(
            scope, "AccessLogs", retention=log_retention, fields=HTTP_FIELDS
        ),
        throttle=throttle,
    )
