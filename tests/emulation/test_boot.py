"""The emulation boots from the synthesized template, and drift between template and handlers
fails here."""

from __future__ import annotations

import copy
import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .account import Provisioner
from .drift import settings_drift, table_drift
from .runtime import LambdaRuntime
from .system import AwsLocal
from .template import SynthesizedStack


def _provision_variant(aws: AwsLocal, name: str, change: Any) -> tuple[Any, LambdaRuntime]:
    """The same template with one change, created beside the first one in the same moto."""
    assert aws.stack is not None
    template = copy.deepcopy(aws.stack.template)
    change(template["Resources"])
    stack = SynthesizedStack(name, template, aws.stack.outdir)
    provisioner = Provisioner(stack, aws.client, lambda value: value)
    provisioner.rewrite = aws.rewriter(provisioner)
    account = provisioner.provision()
    return account, LambdaRuntime(account, aws.runtime.runtime_env)


def _of_handler(resources: dict[str, Any], handler: str) -> dict[str, Any]:
    return next(r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::Lambda::Function"
                and r["Properties"].get("Handler") == handler)


def test_every_resource_comes_from_the_template(aws_local: AwsLocal) -> None:
    # Given the emulation booted from what CDK synthesized
    account = aws_local.account
    # Then its functions, routes, stream mapping and fault templates are the template's
    assert {f.handler for f in account.functions.values()} >= {
        "lambdas.control_api.handler", "lambdas.aggregator.handler", "lambdas.plan.handler",
        "lambdas.load_generator.handler", "lambdas.evaluate.handler", "lambdas.ws_connect.handler"}
    routes = {r.logical_id: r for r in account.http_routes}
    assert aws_local.stack is not None
    for logical_id, route in aws_local.stack.of_type("AWS::ApiGatewayV2::Route").items():
        if logical_id in routes:
            jwt = route.properties.get("AuthorizationType") == "JWT"
            assert (routes[logical_id].authorizer is not None) == jwt, logical_id
    assert any(r.authorizer for r in account.http_routes)
    assert set(account.websocket_routes) >= {"$connect", "$disconnect", "$default"}
    assert account.stream_mappings and account.stream_mappings[0].report_item_failures
    assert account.fault_templates
    plan = next(f for f in account.functions.values() if f.handler == "lambdas.plan.handler")
    assert set(json.loads(plan.environment["FAULT_TEMPLATES"]).values()) == set(
        account.fault_templates)
    # And the state machine moto holds is the ASL with every placeholder resolved
    definition = aws_local.client("stepfunctions").describe_state_machine(
        stateMachineArn=account.state_machine_arn)["definition"]
    assert "${" not in definition and plan.arn in definition


def test_no_drift_between_the_template_and_the_handlers(aws_local: AwsLocal) -> None:
    assert settings_drift(aws_local.account, aws_local.runtime) == []
    assert table_drift(aws_local.account, aws_local.client("dynamodb")) == []


def test_a_setting_the_template_drops_is_drift(aws_local: AwsLocal) -> None:
    # Given a template whose aggregator lost TABLE_NAME
    def drop(resources: dict[str, Any]) -> None:
        del _of_handler(resources, "lambdas.aggregator.handler")["Environment"]["Variables"][
            "TABLE_NAME"]

    account, runtime = _provision_variant(aws_local, "drift-env", drop)
    # Then the drift check names the function and the variable
    found = settings_drift(account, runtime)
    assert len(found) == 1 and "aggregator" in found[0] and "TABLE_NAME" in found[0], found


def test_a_table_key_the_store_does_not_write_is_drift(aws_local: AwsLocal) -> None:
    # Given a template whose run table is keyed on 'id' instead of pk/sk
    def rekey(resources: dict[str, Any]) -> None:
        table = next(r["Properties"] for r in resources.values()
                     if r["Type"] == "AWS::DynamoDB::Table")
        table["KeySchema"] = [{"AttributeName": "id", "KeyType": "HASH"}]
        table["AttributeDefinitions"] = [{"AttributeName": "id", "AttributeType": "S"}]

    account, _ = _provision_variant(aws_local, "drift-key", rekey)
    found = table_drift(account, aws_local.client("dynamodb"))
    assert len(found) == 1 and "drift-key" in found[0], found


def test_the_site_is_served_with_the_config_the_stack_writes(aws_local: AwsLocal) -> None:
    with urllib.request.urlopen(aws_local.urls.site + "config.json") as response:
        config = json.loads(response.read())
    assert config == {
        "mode": "aws", "ws_url": aws_local.urls.websocket, "api_url": aws_local.urls.api + "/",
        "region": "us-east-1", "user_pool_id": aws_local.account.user_pool_id,
        "user_pool_client_id": aws_local.account.user_pool_client_id}
    with urllib.request.urlopen(aws_local.urls.presentation) as response:
        assert response.status == 200 and b"<html" in response.read().lower()


def _api(aws: AwsLocal, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(aws.urls.api + path, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_jwt_authoriser_lets_only_verified_operators_through(aws_local: AwsLocal) -> None:
    cognito = aws_local.client("cognito-idp")
    pool = aws_local.account.user_pool_id
    operator_token = aws_local.sign_in(aws_local.operator)["IdToken"]  # type: ignore[arg-type]
    # A user of the pool outside the operators group
    viewer = aws_local.create_operator("viewer@stresslab.local")
    cognito.admin_remove_user_from_group(UserPoolId=pool, Username=viewer.username,
                                         GroupName="operators")
    viewer_token = aws_local.sign_in(viewer)["IdToken"]
    # A token of the same pool for another app client (wrong audience)
    other = cognito.create_user_pool_client(UserPoolId=pool, ClientName="other")
    other_token = cognito.initiate_auth(
        ClientId=other["UserPoolClient"]["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": viewer.username, "PASSWORD": viewer.password},
    )["AuthenticationResult"]["IdToken"]
    header, payload, _ = operator_token.split(".")
    forged = f"{header}.{payload}.{'A' * 342}"

    assert _api(aws_local, "/runs", None)[0] == 401
    assert _api(aws_local, "/runs", forged)[0] == 401
    assert _api(aws_local, "/runs", other_token)[0] == 401
    assert _api(aws_local, "/runs", viewer_token)[0] == 403  # the handler's own check
    status, body = _api(aws_local, "/runs", operator_token)
    assert status == 200 and "runs" in body


def test_posting_to_a_gone_connection_is_410(aws_local: AwsLocal) -> None:
    ws_endpoint = next(f.environment["WS_ENDPOINT"] for f in aws_local.account.functions.values()
                       if "WS_ENDPOINT" in f.environment)
    cert = aws_local.workdir / "gateway.pem"
    management = boto3.client("apigatewaymanagementapi", endpoint_url=ws_endpoint,
                              region_name="us-east-1", verify=str(cert),
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as raised:
        management.post_to_connection(ConnectionId="nobody", Data=b"{}")
    assert raised.value.response["Error"]["Code"] == "GoneException"


def test_the_browser_reaches_cognito_through_the_gateway(aws_local: AwsLocal) -> None:
    # The site's sign-in (amazon-cognito-identity-js) posts Cognito's JSON API to its
    # cognito_endpoint; the gateway hands it to moto, same origin
    assert aws_local.operator is not None
    cognito = boto3.client("cognito-idp", region_name="us-east-1",
                           endpoint_url=f"{aws_local.gateway.http_url}/cognito/",
                           aws_access_key_id="x", aws_secret_access_key="x")
    answer = cognito.initiate_auth(
        ClientId=aws_local.account.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": aws_local.operator.username,
                        "PASSWORD": aws_local.operator.password})
    assert answer["AuthenticationResult"]["IdToken"].count(".") == 2
