"""The lambda and stepfunctions-express kinds through the factory, boto3 against a platform stub
on 127.0.0.1 speaking their wire protocols: counts reconcile with the platform's ledger, each
decision is scored through the mapping, and each failure is counted in its documented class."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aws_wire_stub import (
    FUNCTION,
    MACHINE,
    MAPPING,
    REGION,
    Ledger,
    every,
    express_routes,
    lambda_routes,
    serve,
)

from stresslab.generation.transactions import TransactionFactory
from stresslab.ports import Outcome, Target
from stresslab.scenario.spec import HttpSettings
from stresslab.targets.config import AnyTarget
from stresslab.targets.factory import TargetContext, open_target
from stresslab.targets.response import ResponseReader
from stresslab.targets.secrets import Secrets, environment_resolver
from stresslab.targets.section import parse_target

REQUEST = {"body": {
    "txn_ref": "{{ transaction_id }}",
    "value": {"minor": "{{ amount_minor }}", "ccy": "{{ currency }}"},
    "card_bin": "{{ card.bin }}",
}}
RESPONSE = {"decision": "outcome.action", "decision_map": MAPPING}


def payloads(count: int) -> Iterator[dict[str, Any]]:
    factory = TransactionFactory("aws-kinds", 5, 0)
    for i in range(count):
        yield factory.next(1_767_225_600.0 + i / 100).payload


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # the stub is an IP address: no sync- prefix on StartSyncExecution's host
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    return monkeypatch


def context(timeout: float = 5.0) -> TargetContext:
    return TargetContext(
        settings=HttpSettings(timeout=timeout, max_in_flight=32, connections=16),
        secrets=Secrets(environment_resolver(dict(os.environ))),
    )


async def send_all(target: Target, count: int, lanes: int = 16) -> dict[str, Outcome]:
    queue = list(payloads(count))
    outcomes: dict[str, Outcome] = {}

    async def lane() -> None:
        while queue:
            payload = queue.pop()
            outcomes[payload["transaction_id"]] = await target.send(payload)

    await asyncio.gather(*(lane() for _ in range(lanes)))
    return outcomes


async def run_against(
    routes: list[web.RouteDef], section: AnyTarget, aws_env: pytest.MonkeyPatch, count: int,
    timeout: float = 5.0,
) -> dict[str, Outcome]:
    async with serve(routes) as url:
        aws_env.setenv("AWS_ENDPOINT_URL", url)
        async with open_target(section, context(timeout)) as target:
            return await send_all(target, count)


EXPECTED_CLASS = {
    "failed": "http_5xx", "throttled": "http_429", "garbled": "invalid_response",
    "FAILED": "http_5xx", "TIMED_OUT": "http_5xx",
}


def assert_reconciled(
    outcomes: dict[str, Outcome], ledger: Ledger, section: AnyTarget, sent: int
) -> Counter[str]:
    # the platform's own count is what was sent, and every transaction has one outcome
    assert ledger.calls == sent == len(outcomes) == len(ledger.answered)
    reader = ResponseReader(section.response)
    for ref, outcome in outcomes.items():
        answered = ledger.answered[ref]
        if answered in EXPECTED_CLASS:
            assert outcome.kind == EXPECTED_CLASS[answered], (ref, answered, outcome)
        else:
            assert outcome.kind == "ok", (ref, outcome)
            assert reader.read(outcome.body).decision == MAPPING[answered]
    return Counter(outcome.kind for outcome in outcomes.values())


async def test_lambda_invokes_score_through_the_mapping_and_count_failures_by_class(aws_env):
    # Given a function that raises every 7th call, is throttled every 11th, garbles every 13th
    ledger = Ledger()
    routes = lambda_routes(ledger, every({7: "failed", 11: "throttled", 13: "garbled"}))
    section = parse_target({"kind": "lambda", "function": FUNCTION, "qualifier": "live",
                            "request": REQUEST, "response": RESPONSE})
    # When 200 transactions are invoked through the factory's lambda kind
    outcomes = await run_against(routes, section, aws_env, 200)
    # Then the counts reconcile with the function's ledger, decisions score through the map
    kinds = assert_reconciled(outcomes, ledger, section, 200)
    assert kinds["http_5xx"] == 200 // 7 and kinds["http_429"] > 0 and kinds["ok"] > 100
    assert sum(kinds.values()) == 200
    assert set(ledger.qualifiers) == {"live"}


async def test_express_workflow_succeeded_failed_and_timed_out(aws_env):
    # Given a workflow that fails every 5th, times out every 9th, is throttled every 23rd
    ledger = Ledger()
    routes = express_routes(ledger, every({5: "FAILED", 9: "TIMED_OUT", 23: "throttled"}))
    section = parse_target({"kind": "stepfunctions-express", "state_machine_arn": MACHINE,
                            "request": REQUEST, "response": RESPONSE})
    # When 150 transactions start synchronous executions
    outcomes = await run_against(routes, section, aws_env, 150)
    # Then SUCCEEDED gives the output's decision, FAILED/TIMED_OUT are http_5xx, throttles 429
    kinds = assert_reconciled(outcomes, ledger, section, 150)
    failed_or_timed_out = 150 // 5 + len([n for n in range(1, 151) if n % 9 == 0 and n % 5])
    assert kinds["http_5xx"] == failed_or_timed_out and kinds["http_429"] > 0


async def test_a_function_slower_than_the_timeout_is_a_timeout(aws_env):
    # Given a function that answers after 2 s and a target timeout of 0.3 s
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"outcome": {"action": "ACCEPT"}})

    routes = [web.post("/2015-03-31/functions/{name}/invocations", slow)]
    section = parse_target({"kind": "lambda", "function": FUNCTION, "timeout": "300ms",
                            "response": RESPONSE})
    # When 4 transactions are invoked
    outcomes = await run_against(routes, section, aws_env, 4)
    # Then each is a timeout, not an error and not an answer
    assert [outcome.kind for outcome in outcomes.values()] == ["timeout"] * 4


async def test_nothing_listening_is_connect_and_never_delivered(aws_env, unused_tcp_port):
    # Given an endpoint where nothing listens
    aws_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{unused_tcp_port}")
    section = parse_target({"kind": "lambda", "function": FUNCTION})
    # When 3 transactions are invoked
    async with open_target(section, context()) as target:
        outcomes = await send_all(target, 3)
    # Then each is a connect error the platform cannot have counted
    assert {(o.kind, o.delivered) for o in outcomes.values()} == {("connect", False)}
