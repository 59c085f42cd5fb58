"""HTTP face of the reference target: /v1/score, /v1/stats, /health and the /admin fault API."""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from stresslab.target.config import DegradationLevel, TargetConfig
from stresslab.target.faults import FaultSpec, FaultState, happens
from stresslab.target.orchestrator import Orchestrator, ScoringRefused
from stresslab.target.payload import UNKNOWN_RUN, InvalidTransaction, parse_transaction, run_id_of
from stresslab.target.stats import DROPPED, ScoreCounters

__all__ = ["RunningTarget", "TargetConfig", "create_app", "serve", "start_target"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_NOT_JSON = object()


@dataclass(slots=True)
class TargetState:
    """Everything one running target holds; handlers only translate HTTP to calls on it."""

    config: TargetConfig
    faults: FaultState
    orchestrator: Orchestrator
    counters: ScoreCounters
    rng: random.Random


STATE = web.AppKey("stresslab_target", TargetState)


class DegradationRequest(BaseModel):
    """Body of POST /admin/degradation."""

    model_config = ConfigDict(extra="forbid")

    level: DegradationLevel


def create_app(config: TargetConfig | None = None) -> web.Application:
    """The target as an aiohttp application with fresh state."""
    config = config or TargetConfig()
    rng = random.Random(config.seed)
    faults = FaultState(clock=time.monotonic)
    state = TargetState(
        config=config,
        faults=faults,
        orchestrator=Orchestrator(config, faults, rng),
        counters=ScoreCounters(config.max_tracked_runs),
        rng=rng,
    )
    app = web.Application(client_max_size=config.max_body_bytes)
    app[STATE] = state
    app.router.add_post("/v1/score", _score)
    app.router.add_get("/v1/stats", _stats)
    app.router.add_get("/health", _health)
    # Admin routes check the token themselves: an app-wide middleware would tax /v1/score.
    admin = _AdminGuard(config.admin_token)
    app.router.add_post("/admin/faults", admin(_add_fault))
    app.router.add_get("/admin/faults", admin(_list_faults))
    app.router.add_delete("/admin/faults", admin(_clear_faults))
    app.router.add_delete("/admin/faults/{fault_id}", admin(_delete_fault))
    app.router.add_post("/admin/degradation", admin(_set_degradation))
    app.router.add_get("/admin/degradation", admin(_get_degradation))
    return app


@dataclass(slots=True)
class RunningTarget:
    """A target serving on a real socket until `stop`."""

    url: str
    app: web.Application
    _runner: web.AppRunner

    async def stop(self) -> None:
        await self._runner.cleanup()


async def start_target(
    host: str = "127.0.0.1", port: int = 0, config: TargetConfig | None = None
) -> RunningTarget:
    """Serve the target on host:port (0: a free port) in the running event loop."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=2048).start()
        bound_port = runner.addresses[0][1]
    except BaseException:
        await runner.cleanup()
        raise
    shown_host = f"[{host}]" if ":" in host else host
    return RunningTarget(url=f"http://{shown_host}:{bound_port}", app=app, _runner=runner)


def serve(host: str, port: int, config: TargetConfig | None = None) -> None:
    """Serve until SIGINT or SIGTERM; prints the URL line once listening."""
    uvloop.run(_serve_until_stopped(host, port, config))


async def _serve_until_stopped(host: str, port: int, config: TargetConfig | None) -> None:
    target = await start_target(host, port, config)
    print(f"stresslab target listening on {target.url}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await target.stop()


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(body), content_type="application/json")


async def _score(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    counters = state.counters
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        counters.arrived(UNKNOWN_RUN)
        counters.answered(UNKNOWN_RUN, "413")
        return _json(413, {"error": f"body: larger than {state.config.max_body_bytes} bytes"})
    except ConnectionError:
        counters.arrived(UNKNOWN_RUN)
        counters.answered(UNKNOWN_RUN, DROPPED)
        raise
    try:
        payload: object = json.loads(body)
    except ValueError:
        payload = _NOT_JSON
    run_id = run_id_of(payload)
    counters.arrived(run_id)
    outcome, decision = "500", None
    try:
        faults = state.faults
        if faults and happens(state.rng, faults.fraction("drop_connections", None)):
            outcome = DROPPED
            request.protocol.force_close()
            return web.Response(status=500)  # never delivered: the connection is gone
        if payload is _NOT_JSON:
            outcome = "400"
            return _json(400, {"error": "body: not valid JSON"})
        status, answer = await _assess(state, payload)
        outcome = str(status)
        decision = answer.get("decision")
        return _json(status, answer)
    finally:
        counters.answered(run_id, outcome, decision)


async def _assess(state: TargetState, payload: object) -> tuple[int, dict[str, Any]]:
    try:
        txn = parse_transaction(payload)
    except InvalidTransaction as invalid:
        return 400, {"error": str(invalid)}
    try:
        assessment = await state.orchestrator.assess(txn)
    except ScoringRefused as refused:
        return refused.status, {"error": refused.error}
    return 200, assessment.to_json()


async def _stats(request: web.Request) -> web.StreamResponse:
    counters = request.app[STATE].counters
    return _json(200, counters.describe(request.query.get("run_id")))


async def _health(request: web.Request) -> web.StreamResponse:
    agents = request.app[STATE].orchestrator.health()
    healthy = all(agent["healthy"] for agent in agents.values())
    return _json(200, {"status": "ok" if healthy else "degraded", "agents": agents})


class _AdminGuard:
    """Wraps admin handlers so they answer 401 unless the bearer token matches."""

    def __init__(self, token: str | None) -> None:
        self._expected = None if token is None else f"Bearer {token}".encode()

    def __call__(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            offered = request.headers.get("Authorization", "").encode()
            if self._expected is not None and not hmac.compare_digest(offered, self._expected):
                return web.Response(
                    status=401,
                    body=json.dumps({"error": "authorization: admin bearer token required"}),
                    content_type="application/json",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await handler(request)

        return guarded


def _one_line(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    message = str(first["msg"]).removeprefix("Value error, ").replace("\n", " ")
    return f"{field}: {message}"


async def _add_fault(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        spec = FaultSpec.model_validate_json(await request.read())
    except ValidationError as invalid:
        return _json(400, {"error": _one_line(invalid)})
    fault = state.faults.add(spec)
    return _json(201, fault.describe(fault.started_at))


async def _list_faults(request: web.Request) -> web.StreamResponse:
    return _json(200, {"faults": request.app[STATE].faults.describe()})


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    return _json(200, {"cleared": request.app[STATE].faults.clear()})


async def _delete_fault(request: web.Request) -> web.StreamResponse:
    fault_id = request.match_info["fault_id"]
    if request.app[STATE].faults.remove(fault_id):
        return _json(200, {"deleted": fault_id})
    return _json(404, {"error": f"fault_id: no active fault {fault_id!r}"})


async def _set_degradation(request: web.Request) -> web.StreamResponse:
    orchestrator = request.app[STATE].orchestrator
    try:
        wanted = DegradationRequest.model_validate_json(await request.read())
    except ValidationError as invalid:
        return _json(400, {"error": _one_line(invalid)})
    previous = orchestrator.degradation
    orchestrator.degradation = wanted.level
    return _json(200, {"level": wanted.level.value, "previous": previous.value})


async def _get_degradation(request: web.Request) -> web.StreamResponse:
    return _json(200, {"level": request.app[STATE].orchestrator.degradation.value})
