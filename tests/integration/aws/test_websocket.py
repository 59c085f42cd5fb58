"""WebSocket handlers under moto: connect (viewer token / operator JWT), disconnect, push."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.core.exceptions import JsonRESTError

from lambdas import aggregator, plan, ws_connect, ws_default, ws_disconnect
from stresslab.aws.store import DynamoRunStore
from stresslab.metrics import WindowStats

from .sfn_harness import FakeContext
from .world import ACCOUNT, CLIENT_ID, REGION, TABLE, USER_POOL_ID, VIEWER_SECRET, World

ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{USER_POOL_ID}"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks() -> dict[str, Any]:
    numbers = KEY.public_key().public_numbers()
    return {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                      "n": b64(numbers.n.to_bytes(256, "big")),
                      "e": b64(numbers.e.to_bytes(3, "big"))}]}


def jwt(groups: list[str], **overrides: Any) -> str:
    claims = {"sub": "u1", "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id",
              "exp": int(time.time()) + 600, "cognito:username": "ops",
              "cognito:groups": groups, **overrides}
    signing_input = (b64(json.dumps({"alg": "RS256", "kid": "k1"}).encode()) + "."
                     + b64(json.dumps(claims).encode()))
    signature = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


class GoneError(JsonRESTError):
    """What API Gateway answers for a connection that no longer exists (moto never does)."""

    code = 410

    def __init__(self) -> None:
        super().__init__("GoneException", "")


def connect_event(connection_id: str, query: dict[str, str] | None) -> dict[str, Any]:
    return {"requestContext": {"connectionId": connection_id, "eventType": "CONNECT",
                               "routeKey": "$connect"},
            "queryStringParameters": query}


@pytest.fixture
def fake_jwks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stresslab.aws.cognito_jwt.fetch_jwks", lambda url: jwks())


def connections(world: World) -> dict[str, str]:
    return dict(DynamoRunStore(world.client("dynamodb"), TABLE).connections())


def test_viewer_token_connects_and_a_bad_one_is_refused(aws: World, fake_jwks: None) -> None:
    ok = ws_connect.handler(connect_event("c-viewer", {"token": VIEWER_SECRET}), FakeContext())
    bad = ws_connect.handler(connect_event("c-bad", {"token": "guess"}), FakeContext())
    none = ws_connect.handler(connect_event("c-none", None), FakeContext())

    assert ok["statusCode"] == 200 and ok["body"] == "viewer"
    assert bad["statusCode"] == 401 and none["statusCode"] == 401
    assert connections(aws) == {"c-viewer": "viewer"}


def test_operator_jwt_is_verified(aws: World, fake_jwks: None) -> None:
    operator = ws_connect.handler(connect_event("c-op", {"jwt": jwt(["operators"])}),
                                  FakeContext())
    member = ws_connect.handler(connect_event("c-member", {"jwt": jwt([])}), FakeContext())
    expired = ws_connect.handler(
        connect_event("c-old", {"jwt": jwt(["operators"], exp=int(time.time()) - 3600)}),
        FakeContext())
    forged = jwt(["operators"]).rsplit(".", 1)[0] + "." + b64(b"\0" * 256)
    tampered = ws_connect.handler(connect_event("c-forged", {"jwt": forged}), FakeContext())
    other_client = ws_connect.handler(
        connect_event("c-other", {"jwt": jwt(["operators"], aud="someone-else")}), FakeContext())

    assert operator["body"] == "operator" and member["body"] == "viewer"
    assert [r["statusCode"] for r in (expired, tampered, other_client)] == [401, 401, 401]
    assert "expired" in expired["body"] and "signature" in tampered["body"]
    assert connections(aws) == {"c-op": "operator", "c-member": "viewer"}


def test_disconnect_forgets_the_connection(aws: World, fake_jwks: None) -> None:
    ws_connect.handler(connect_event("c1", {"token": VIEWER_SECRET}), FakeContext())

    ws_disconnect.handler({"requestContext": {"connectionId": "c1"}}, FakeContext())

    assert connections(aws) == {}


def test_default_route_answers_known_messages_and_rejects_others(
    aws: World, fake_jwks: None
) -> None:
    ws_connect.handler(connect_event("c1", {"token": VIEWER_SECRET}), FakeContext())

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
    assert json.loads(reply)["error"].startswith("type: Input should be 'ping' or 'resync'")
    assert "\n" not in json.loads(reply)["error"]


def test_ticks_reach_viewers_and_a_gone_connection_is_removed(
    aws: World, fake_jwks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two viewers, one of which has gone away without a $disconnect
    for connection_id in ("c-live", "c-stale"):
        ws_connect.handler(connect_event(connection_id, {"token": VIEWER_SECRET}), FakeContext())
    original = ApiGatewayManagementApiBackend.post_to_connection

    def post(self: Any, data: bytes, connection_id: str) -> None:
        if connection_id == "c-stale":
            raise GoneError()
        original(self, data, connection_id)

    monkeypatch.setattr(ApiGatewayManagementApiBackend, "post_to_connection", post)
    plan.handler({"input": {"scenario": {"name": "ws", "phases": [
        {"shape": "constant", "tps": 10, "duration": "5s"}]},
        "target_url": "http://127.0.0.1:9/v1/score"}, "run_id": "ws-1"}, FakeContext())

    # When the aggregator merges batches for seconds 0 and 1 (so second 0 has closed)
    records = []
    for window in (0, 1):
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
    assert tick["second"] == 0 and tick["totals"]["sent"] == 20
    assert connections(aws) == {"c-live": "viewer"}

    # And a resync gets the running run's description
    _management_backend().connections["c-live"].data = b""
    ws_default.handler({"requestContext": {"connectionId": "c-live"},
                        "body": '{"type": "resync"}'}, FakeContext())
    snapshot = json.loads(_management_backend().connections["c-live"].data)
    assert snapshot["run"]["run_id"] == "ws-1" and snapshot["run"]["status"] == "running"
    assert [r["run_id"] for r in snapshot["runs"]] == ["ws-1"]


def _management_backend() -> ApiGatewayManagementApiBackend:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    return apigatewaymanagementapi_backends[ACCOUNT][REGION]


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
