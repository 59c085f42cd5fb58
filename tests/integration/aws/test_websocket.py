"""WebSocket handlers under moto: connect (viewer link / operator JWT from moto's Cognito),
share presentation link, disconnect, push."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import moto.cognitoidp
import pytest
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.core.exceptions import JsonRESTError

from lambdas import aggregator, plan, ws_connect, ws_default, ws_disconnect
from stresslab.aws.store import DynamoRunStore
from stresslab.measurement.live import ServerError
from stresslab.measurement.metrics import WindowStats

from .sfn_harness import FakeContext
from .test_cognito_jwt import JwksServer, b64
from .test_control_api import request as control_request
from .world import ACCOUNT, PRESENTATION_URL, REGION, TABLE, World, reset_handlers

MOTO_RESOURCES = Path(moto.cognitoidp.__file__).parent / "resources"


def moto_pool_key(name: str) -> Any:
    with gzip.open(MOTO_RESOURCES / f"jwks-{name}.json.gz") as f:
        return json.load(f)


@dataclass
class Pool:
    """A moto Cognito user pool with an operator (ana) and a plain member (ben)."""

    id: str
    client_id: str
    cognito: Any

    def id_token(self, username: str) -> str:
        return str(self.cognito.admin_initiate_auth(
            UserPoolId=self.id, ClientId=self.client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": "Passw0rd!Passw0rd"},
        )["AuthenticationResult"]["IdToken"])

    def signed(self, **claims: Any) -> str:
        """A token signed with moto's pool key, with the claims given."""
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(moto_pool_key("private")))
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


@pytest.fixture
def pool(aws: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pool]:
    cognito = aws.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName="operators")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="site",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool_id, GroupName="operators")
    for username in ("ana", "ben"):
        cognito.admin_create_user(UserPoolId=pool_id, Username=username)
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=username,
                                        Password="Passw0rd!Passw0rd", Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="ana", GroupName="operators")
    # Lambda would fetch the keys from Cognito; here moto's public JWKS is served on loopback.
    with JwksServer(json.dumps(moto_pool_key("public")), pool_id).serving() as keys:
        for name, value in {"USER_POOL_ID": pool_id, "USER_POOL_CLIENT_ID": client_id,
                            "USER_POOL_JWKS_URL": keys.url}.items():
            monkeypatch.setenv(name, value)
        reset_handlers()
        yield Pool(pool_id, client_id, cognito)


def viewer_token(ttl_s: int = 600) -> str:
    """What an operator's "share presentation link" gives an investor."""
    link = control_request("POST", "/viewer-links", {"ttl_s": ttl_s})
    assert link["status"] == 201, link
    return str(parse_qs(urlsplit(link["body"]["url"]).query)["token"][0])


class GoneError(JsonRESTError):
    """What API Gateway answers for a connection that no longer exists (moto never does)."""

    code = 410

    def __init__(self) -> None:
        super().__init__("GoneException", "")


def connect_event(connection_id: str, query: dict[str, str] | None) -> dict[str, Any]:
    return {"requestContext": {"connectionId": connection_id, "eventType": "CONNECT",
                               "routeKey": "$connect"},
            "queryStringParameters": query}


def connections(world: World) -> dict[str, str]:
    return dict(DynamoRunStore(world.client("dynamodb"), TABLE).connections())


def connect(connection_id: str, query: dict[str, str] | None) -> dict[str, Any]:
    return dict(ws_connect.handler(connect_event(connection_id, query), FakeContext()))


def test_a_viewer_link_connects_read_only_and_forged_or_expired_ones_are_refused(
    aws: World, pool: Pool
) -> None:
    # Given a link shared by an operator, and the secret it was signed with
    token = viewer_token()
    secret = aws.client("secretsmanager").get_secret_value(
        SecretId=aws.env["VIEWER_LINK_SECRET_ARN"])["SecretString"]
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="stresslab-viewer")

    # When viewers connect with it, a tampered copy, an expired one, one signed with another
    # key, the stack's old kind of token, or nothing
    ok = connect("c-viewer", {"token": token})
    head, body, signature = token.split(".")
    tampered = connect("c-tampered", {"token": f"{head}.{body}.{signature[::-1]}"})
    expired = connect("c-expired", {"token": jwt.encode(
        {**claims, "iat": claims["iat"] - 7200, "exp": claims["exp"] - 7200}, secret,
        algorithm="HS256")})
    foreign = connect("c-foreign", {"token": jwt.encode(claims, "x" * 64, algorithm="HS256")})
    old_kind = connect("c-old", {"token": "presentation-secret-0123"})
    none = connect("c-none", None)

    # Then only the link's token connects, as a viewer
    assert ok == {"statusCode": 200, "body": "viewer"}
    assert [r["statusCode"] for r in (tampered, expired, foreign, old_kind, none)] == [401] * 5
    assert "expired" in expired["body"] and "signature" in foreign["body"]
    assert connections(aws) == {"c-viewer": "viewer"}


def test_a_viewer_link_survives_one_rotation_of_the_secret(aws: World, pool: Pool) -> None:
    token = viewer_token()
    secrets = aws.client("secretsmanager")
    secret_id = aws.env["VIEWER_LINK_SECRET_ARN"]

    secrets.put_secret_value(SecretId=secret_id, SecretString="r" * 64)  # the rotation step
    reset_handlers()
    after_one = connect("c-1", {"token": token})
    secrets.put_secret_value(SecretId=secret_id, SecretString="s" * 64)
    reset_handlers()
    after_two = connect("c-2", {"token": token})

    assert after_one["statusCode"] == 200 and after_two["statusCode"] == 401


def test_share_presentation_link_needs_an_operator_and_a_sane_lifetime(
    aws: World, pool: Pool
) -> None:
    viewer = control_request("POST", "/viewer-links", {}, groups="[viewers]")
    too_long = control_request("POST", "/viewer-links", {"ttl_s": 10 * 86400})
    unknown = control_request("POST", "/viewer-links", {"role": "operator"})
    link = control_request("POST", "/viewer-links", None)

    assert viewer["status"] == 403
    assert too_long["status"] == 400 and too_long["body"]["error"].startswith("ttl_s: ")
    assert unknown["status"] == 400 and unknown["body"]["error"].startswith("role: ")
    assert link["status"] == 201
    assert link["body"]["url"].startswith(PRESENTATION_URL + "?token=")
    assert 4 * 3600 - 5 <= link["body"]["expires_at"] - time.time() <= 4 * 3600


def test_operator_jwt_from_the_pool_is_verified(aws: World, pool: Pool) -> None:
    # Given tokens issued by the pool (moto's Cognito) and some that only look like them
    now = int(time.time())
    base = {"sub": "u1", "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{pool.id}",
            "aud": pool.client_id, "token_use": "id", "iat": now, "exp": now + 600,
            "cognito:groups": ["operators"]}
    forged = pool.id_token("ana").rsplit(".", 1)[0] + "." + b64(b"\0" * 256)

    # When each connects
    outcomes = {name: connect(f"c-{name}", {"jwt": token}) for name, token in {
        "operator": pool.id_token("ana"),
        "member": pool.id_token("ben"),
        "expired": pool.signed(**{**base, "exp": now - 3600}),
        "forged": forged,
        "other-client": pool.signed(**{**base, "aud": "someone-else"}),
        "other-pool": pool.signed(**{**base, "iss": base["iss"] + "x"}),
        "malformed": "eyJhbGciOiJSUzI1NiJ9.e30.x",
        "unknown-kid": jwt.encode(base, "k" * 64, algorithm="HS256", headers={"kid": "nope"}),
    }.items()}

    # Then the operator is an operator, the member a viewer, and every other token a 401
    assert outcomes.pop("operator") == {"statusCode": 200, "body": "operator"}
    assert outcomes.pop("member") == {"statusCode": 200, "body": "viewer"}
    assert {name: r["statusCode"] for name, r in outcomes.items()} == dict.fromkeys(outcomes, 401)
    assert "expired" in outcomes["expired"]["body"]
    assert "signature" in outcomes["forged"]["body"]
    assert "another client" in outcomes["other-client"]["body"]
    assert connections(aws) == {"c-operator": "operator", "c-member": "viewer"}


def test_disconnect_forgets_the_connection(aws: World, pool: Pool) -> None:
    ws_connect.handler(connect_event("c1", {"token": viewer_token()}), FakeContext())

    ws_disconnect.handler({"requestContext": {"connectionId": "c1"}}, FakeContext())

    assert connections(aws) == {}


def test_default_route_answers_known_messages_and_rejects_others(
    aws: World, pool: Pool
) -> None:
    ws_connect.handler(connect_event("c1", {"token": viewer_token()}), FakeContext())

    def send(body: str) -> tuple[int, str]:
        backend = _management_backend()
        backend.connections["c1"].data = b""
        response = ws_default.handler({"requestContext": {"connectionId": "c1"}, "body": body},
                                      FakeContext())
        return response["statusCode"], backend.connections["c1"].data.decode()

    status, reply = send('{"type": "ping"}')
    assert status == 200 and json.loads(reply)["type"] == "pong"
    status, reply = send('{"type": "resync"}')
    assert status == 200 and json.loads(reply) == {
        "schema": "stresslab.live/v1", "type": "snapshot", "run": None, "history": [],
        "events": [], "runs": []}
    status, reply = send('{"type": "launch-missiles"}')
    assert status == 400
    # The same ServerError the local hub sends, which the pages show (its `message`)
    refused = ServerError.model_validate_json(reply)
    assert refused.message.startswith("type: Input should be 'ping' or 'resync'")
    assert "\n" not in refused.message


def test_ticks_reach_viewers_and_a_gone_connection_is_removed(
    aws: World, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two viewers, one of which has gone away without a $disconnect
    for connection_id in ("c-live", "c-stale"):
        ws_connect.handler(connect_event(connection_id, {"token": viewer_token()}), FakeContext())
    original = ApiGatewayManagementApiBackend.post_to_connection

    def post(self: Any, data: bytes, connection_id: str) -> None:
        if connection_id == "c-stale":
            raise GoneError()
        original(self, data, connection_id)

    monkeypatch.setattr(ApiGatewayManagementApiBackend, "post_to_connection", post)
    plan.handler({"input": {"scenario": {"name": "ws", "workers": 1, "phases": [
        {"shape": "constant", "tps": 10, "duration": "5s"}]},
        "target_url": "http://127.0.0.1:9/v1/score"}, "run_id": "ws-1"}, FakeContext())

    # When the aggregator merges the only planned worker's batch for second 0 (which closes it)
    records = []
    for window in (0,):
        stats = WindowStats()
        stats.scheduled = stats.sent = stats.ok = 10
        batch = stats.to_batch("ws-1", "w0-s0", 0, 0, window, window)
        records.append({"SequenceNumber": str(window + 1), "PartitionKey": "w0-s0",
                        "Data": batch.model_dump_json(by_alias=True).encode(),
                        "ApproximateArrivalTimestamp": _now()})
    response = aggregator.handler(aws.kinesis_event(records), FakeContext())

    # Then the live viewer got a stresslab.live/v1 tick for second 0; the stale one is gone
    assert response == {"batchItemFailures": []}
    tick = json.loads(_management_backend().connections["c-live"].data)
    assert tick["schema"] == "stresslab.live/v1" and tick["type"] == "tick"
    assert tick["second"] == 0 and tick["totals"]["sent"] == 10
    assert connections(aws) == {"c-live": "viewer"}

    # And a resync gets the running run's description
    _management_backend().connections["c-live"].data = b""
    ws_default.handler({"requestContext": {"connectionId": "c-live"},
                        "body": '{"type": "resync"}'}, FakeContext())
    snapshot = json.loads(_management_backend().connections["c-live"].data)
    assert snapshot["run"]["run_id"] == "ws-1" and snapshot["run"]["status"] == "running"
    assert [r["run_id"] for r in snapshot["runs"]] == ["ws-1"]
    # with the seconds ticked before it asked (a page opened mid-run draws the whole run)
    assert [(t["second"], t["totals"]["sent"]) for t in snapshot["history"]] == [(0, 10)]
    assert snapshot["history"][0] == {**tick, "infra": snapshot["history"][0]["infra"]}


def _management_backend() -> ApiGatewayManagementApiBackend:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    return apigatewaymanagementapi_backends[ACCOUNT][REGION]


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
