"""A platform on 127.0.0.1 that speaks Lambda's Invoke and Step Functions' StartSyncExecution.

moto's Lambda needs Docker to invoke (none here), and moto has no StartSyncExecution: this stub
answers boto3 as the services do (paths, headers, JSON 1.0 targets, error shapes), scores each
transaction by its own rule and keeps a ledger of what it answered, to reconcile against.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

ACTIONS = ("ACCEPT", "CHALLENGE", "DECLINE")
MAPPING = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}
ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION = "fraud-orchestrator"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:fraud-express"


def action_for(body: dict[str, Any]) -> str:
    """The platform's own rule, on its own schema (the stresslab template shaped the body)."""
    minor = int(body["value"]["minor"])
    return ACTIONS[2] if minor > 50_000 else ACTIONS[1] if minor > 20_000 else ACTIONS[0]


@dataclass
class Ledger:
    """What the platform answered for each txn_ref: an action, or 'failed' / 'throttled' / …"""

    answered: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    qualifiers: list[str | None] = field(default_factory=list)


# Every Nth call the platform fails in a given way; the others are scored.
Fate = Callable[[int], str | None]


def every(failures: dict[int, str]) -> Fate:
    def fate(call: int) -> str | None:
        for period, kind in failures.items():
            if call % period == 0:
                return kind
        return None

    return fate


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def lambda_routes(ledger: Ledger, fate: Fate) -> list[web.RouteDef]:
    async def invoke(request: web.Request) -> web.Response:
        assert request.match_info["name"] == FUNCTION, request.match_info["name"]
        assert request.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "RequestResponse"
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
        ledger.calls += 1
        kind = fate(ledger.calls)  # before any await: other calls count meanwhile
        ledger.qualifiers.append(request.query.get("Qualifier"))
        body = orjson.loads(await request.read())
        ref = body["txn_ref"]
        if kind == "throttled":
            ledger.answered[ref] = kind
            return _json({"Type": "User", "message": "Rate Exceeded.", "Reason":
                          "ReservedFunctionConcurrentInvocationLimitExceeded"}, 429,
                         {"x-amzn-ErrorType": "TooManyRequestsException"})
        if kind == "failed":  # the function raised: 200 with X-Amz-Function-Error
            ledger.answered[ref] = kind
            return _json({"errorMessage": "boom", "errorType": "RuntimeError"}, 200,
                         {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "7"})
        if kind == "garbled":
            ledger.answered[ref] = kind
            return web.Response(body=b"not json", status=200)
        action = action_for(body)
        ledger.answered[ref] = action
        return _json({"outcome": {"action": action}, "ref": ref}, 200,
                     {"X-Amz-Executed-Version": "7"})

    return [web.post("/2015-03-31/functions/{name}/invocations", invoke)]


def express_routes(ledger: Ledger, fate: Fate) -> list[web.RouteDef]:
    async def call(request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target")
        assert target == "AWSStepFunctions.StartSyncExecution", target
        assert request.content_type == "application/x-amz-json-1.0"
        ledger.calls += 1
        kind = fate(ledger.calls)  # before any await: other calls count meanwhile
        call = orjson.loads(await request.read())
        assert call["stateMachineArn"] == MACHINE, call
        body = orjson.loads(call["input"])
        ref = body["txn_ref"]
        now = time.time()
        done = {"executionArn": f"{MACHINE.replace('stateMachine', 'express')}:{ref}",
                "stateMachineArn": MACHINE, "startDate": now, "stopDate": now}
        if kind == "throttled":
            ledger.answered[ref] = kind
            return _json({"__type": "com.amazonaws.swf.service.v2.model#ThrottlingException",
                          "message": "Rate exceeded"}, 400)
        if kind in ("FAILED", "TIMED_OUT"):
            ledger.answered[ref] = kind
            return _json({**done, "status": kind, "error": "States.Timeout" if kind ==
                          "TIMED_OUT" else "AgentFailed", "cause": "…"})
        action = action_for(body)
        ledger.answered[ref] = action
        return _json({**done, "status": "SUCCEEDED",
                      "output": orjson.dumps({"outcome": {"action": action}}).decode()})

    return [web.post("/", call)]


@asynccontextmanager
async def serve(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
