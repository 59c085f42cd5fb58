"""A target whose API requires a key: the reference target's authorizer checks x-api-key
against its secret, and the load generators read the key from Secrets Manager and send it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from lambdas import load_generator, plan, reference_target_authorizer
from stresslab.aws.planning import InvalidRun, parse_run_input
from stresslab.aws.store import DynamoRunStore

from .sfn_harness import FakeContext
from .world import TABLE, World, reset_handlers

KEY = "k3y-0f-the-reference-target-0123456789ab"
SCENARIO = {"name": "keyed", "workers": 1, "seed": 5,
            "phases": [{"name": "steady", "shape": "constant", "tps": 20, "duration": "2s"}]}


@dataclass
class KeyedServer:
    """A scoring service on 127.0.0.1 that answers 401 without the right x-api-key."""

    url: str = ""
    accepted: int = 0
    refused: int = 0


@pytest.fixture
def keyed_server() -> Iterator[KeyedServer]:
    server = KeyedServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def score(request: web.Request) -> web.Response:
        await request.read()
        if request.headers.get("x-api-key") != KEY:
            server.refused += 1
            return web.json_response({"message": "Unauthorized"}, status=401)
        server.accepted += 1
        return web.json_response({"decision": "approve"})

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/score", score)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        server.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/score"  # type: ignore[union-attr]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()),
                                              loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _secret(aws: World) -> str:
    return str(aws.client("secretsmanager").create_secret(
        Name="stresslab-reference-target-key", SecretString=KEY,
        Tags=[{"Key": "stresslab:target-key", "Value": "true"}],
    )["ARN"])


def _run(aws: World, url: str, run_id: str, secret: str | None) -> list[dict[str, Any]]:
    run_input: dict[str, Any] = {"scenario": SCENARIO, "target_url": url}
    if secret:
        run_input["target_api_key_secret"] = secret
    planned = plan.handler({"input": run_input, "run_id": run_id,
                            "execution_arn": f"arn:aws:states:::execution:x:{run_id}"},
                           FakeContext())
    assert planned["valid"], planned
    wave = planned["waves"][0]
    return [load_generator.handler({"item": {
        "run_id": run_id, "wave": wave["index"], "shard": shard,
        "shards": planned["shard_count"], "start_s": wave["start_s"], "end_s": wave["end_s"],
        "run_started_at": planned["run_started_at"], "spec": planned["spec"],
        "target": planned["target"],
    }}, FakeContext()) for shard in planned["shards"]]


def test_load_generators_send_the_key_they_read_from_secrets_manager(
    aws: World, keyed_server: KeyedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stresslab.aws.health.SATURATED_CPU_PCT", 10_000.0)
    # Given the target's key in Secrets Manager, and a run that names its secret
    secret = _secret(aws)

    # When the run's generators send their load
    results = _run(aws, keyed_server.url, "keyed-1", secret)

    # Then every request carried the key and was accepted
    sent = sum(r["sent"] for r in results)
    assert sent == 40 == keyed_server.accepted and keyed_server.refused == 0

    # And the key itself is nowhere in the run's record
    record = DynamoRunStore(aws.client("dynamodb"), TABLE).get_run("keyed-1")
    assert KEY not in json.dumps(record)


def test_without_the_secret_the_keyed_target_refuses_every_request(
    aws: World, keyed_server: KeyedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stresslab.aws.health.SATURATED_CPU_PCT", 10_000.0)
    results = _run(aws, keyed_server.url, "unkeyed-1", None)
    assert sum(r["sent"] for r in results) == 40 == keyed_server.refused
    assert keyed_server.accepted == 0


def test_the_reference_targets_authorizer_admits_only_the_key(
    aws: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the authorizer's environment naming the key's secret
    monkeypatch.setenv("TARGET_KEY_SECRET_ARN", _secret(aws))
    reset_handlers()

    def authorize(headers: dict[str, str] | None) -> Any:
        return reference_target_authorizer.handler(
            {"version": "2.0", "type": "REQUEST", "headers": headers}, FakeContext())

    # Then the key (header names in any case) is admitted, anything else is not
    assert authorize({"x-api-key": KEY}) == {"isAuthorized": True}
    assert authorize({"X-Api-Key": KEY}) == {"isAuthorized": True}
    assert authorize({"x-api-key": KEY[:-1]}) == {"isAuthorized": False}
    assert authorize({"x-api-key": ""}) == {"isAuthorized": False}
    assert authorize(None) == {"isAuthorized": False}
    reset_handlers()


def test_the_authorizer_takes_a_rotated_key_once_its_cached_copy_is_old(
    aws: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm authorizer that has admitted the key, with keys kept for no time at all
    secret = _secret(aws)
    monkeypatch.setenv("TARGET_KEY_SECRET_ARN", secret)
    monkeypatch.setenv("TARGET_KEY_MAX_AGE_S", "0")
    reset_handlers()

    def authorize(key: str) -> Any:
        return reference_target_authorizer.handler(
            {"version": "2.0", "type": "REQUEST", "headers": {"x-api-key": key}}, FakeContext())

    assert authorize(KEY) == {"isAuthorized": True}
    # When the key is rotated
    aws.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=KEY + "-2")
    # Then the same warm function admits the new key and refuses the old one
    assert authorize(KEY + "-2") == {"isAuthorized": True}
    assert authorize(KEY) == {"isAuthorized": False}
    reset_handlers()


@pytest.mark.parametrize(
    ("run_input", "expected"),
    [
        ({"target_stream": "tx", "target_api_key_secret":
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"},
         "target_api_key_secret: only an HTTP target (target_url) takes a key"),
        ({"target_url": "https://t.example/v1/score", "target_api_key_secret": "the-key-itself"},
         "target_api_key_secret"),
    ],
)
def test_a_key_is_named_by_its_secret_arn_and_only_for_an_http_target(
    run_input: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidRun) as refused:
        parse_run_input({"scenario": SCENARIO, **run_input})
    assert expected in str(refused.value) and "\n" not in str(refused.value)


def test_a_header_with_a_line_break_is_refused() -> None:
    from stresslab.scenario.spec import HttpSettings
    from stresslab.targets.http import HttpTarget

    with pytest.raises(ValueError, match="line break"):
        HttpTarget("http://127.0.0.1:9/v1/score", HttpSettings(),
                   {"x-api-key": "k\r\nX-Injected: 1"})
