"""The reference target served: its scoring face (scoring_http.py) and the /admin fault API."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from reference_service.answers import json_answer, one_line
from reference_service.binding import (
    RemoteBindRefused,
    admin_host_names,
    is_loopback,
    refuse_remote,
    shown_host,
)
from reference_service.cluster import (
    FAULT_ID_HEADER,
    ClusterRole,
    MemberAdmins,
    MemberUnreachable,
)
from reference_service.config import DegradationLevel, TargetConfig
from reference_service.faults import FaultRefused, FaultSpec
from reference_service.scoring import Reply, TargetState, new_state, summed_stats
from reference_service.scoring_http import ScoringServer

__all__ = [
    "RemoteBindRefused", "RunningTarget", "TargetConfig", "TargetState", "admin_host_names",
    "is_loopback", "new_state", "refuse_remote", "shown_host", "start_target",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEY = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
ADMIN_MAX_BODY = 16 * 1024
ADMIN_START_TIMEOUT_S = 10.0


STATE = web.AppKey("stresslab_target", TargetState)


class DegradationRequest(BaseModel):
    """Body of POST /admin/degradation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    level: DegradationLevel


def _closed_with(app: web.Application, peers: ClusterRole | MemberAdmins | None) -> None:
    """The other processes' client sessions close with the app, in its own event loop."""
    if peers is not None:
        async def close(_: web.Application) -> None:
            await peers.close()

        app.on_cleanup.append(close)


def admin_app(state: TargetState, guard: AdminGuard) -> web.Application:
    """The admin API: every route behind the guard (Host, token, JSON bodies)."""
    app = web.Application(client_max_size=ADMIN_MAX_BODY, middlewares=[guard.middleware])
    app[STATE] = state
    _closed_with(app, state.members)
    app.router.add_post("/admin/faults", _add_fault)
    app.router.add_get("/admin/faults", _list_faults)
    app.router.add_delete("/admin/faults", _clear_faults)
    app.router.add_delete("/admin/faults/{fault_id}", _delete_fault)
    app.router.add_post("/admin/degradation", _set_degradation)
    app.router.add_get("/admin/degradation", _get_degradation)
    app.router.add_get("/admin/stats", _admin_stats)
    app.router.add_get("/admin/health", _admin_health)
    return app


@dataclass(slots=True)
class RunningTarget:
    """A target serving on real sockets until `stop`: scoring here, admin on its own thread."""

    url: str
    admin_url: str
    admin_token: str
    state: TargetState
    _scoring: ScoringServer
    _admin: AdminThread

    async def stop(self) -> None:
        try:
            await self._scoring.stop()
        finally:
            await asyncio.to_thread(self._admin.stop)


class AdminThread:
    """The admin app on its own thread and event loop, so a saturated scoring loop cannot
    delay it (the GIL still switches threads every few milliseconds)."""

    def __init__(
        self, app: web.Application, host: str, port: int, sock: socket.socket | None = None,
    ) -> None:
        self._app, self._host, self._port, self._sock = app, host, port, sock
        self._thread = threading.Thread(target=self._main, name="stresslab-target-admin",
                                        daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(ADMIN_START_TIMEOUT_S)
        if self._error is not None:
            self._thread.join(ADMIN_START_TIMEOUT_S)
            raise self._error
        if not self.port:
            raise OSError("the admin API did not start")
        return self.port

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already closed
                loop.call_soon_threadsafe(stopping.set)
        self._thread.join(ADMIN_START_TIMEOUT_S)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - handed to the starting thread
            self._error = error
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            site: web.BaseSite = (web.SockSite(runner, self._sock) if self._sock is not None
                                  else web.TCPSite(runner, self._host, self._port))
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()


async def start_target(
    host: str = "127.0.0.1", port: int = 0, config: TargetConfig | None = None,
    *, admin_port: int = 0, allow_remote: bool = False,
    sockets: tuple[socket.socket, ...] = (), cluster: ClusterRole | None = None,
    members: MemberAdmins | None = None,
) -> RunningTarget:
    """Serve the target on host:port (0: a free port) in the running event loop, and its
    admin API on host:admin_port in a thread of its own; a token is made unless configured.

    With `sockets` (bound already) it serves on those instead, as process 0 of several.
    """
    refuse_remote(host, allow_remote)
    config = config or TargetConfig()
    token = config.admin_token or secrets.token_urlsafe(24)
    state = new_state(config, cluster)
    state.members = members
    if members is not None:
        state.scoring_members = MemberAdmins(members.urls, token)
    scoring = ScoringServer(state)
    try:
        if sockets:
            await scoring.serve_on(sockets)
        else:
            await scoring.listen(host, port)
        bound_port = scoring.port
    except BaseException:
        await scoring.stop()
        raise
    guard = AdminGuard(token, set())
    admin = AdminThread(admin_app(state, guard), host, admin_port)
    try:
        bound_admin = await asyncio.to_thread(admin.start)
    except BaseException:
        await scoring.stop()
        raise
    guard.allow(admin_host_names(host), bound_admin)
    shown = shown_host(host)
    return RunningTarget(url=f"http://{shown}:{bound_port}",
                         admin_url=f"http://{shown}:{bound_admin}", admin_token=token,
                         state=state, _scoring=scoring, _admin=admin)


class AdminGuard:
    """Refuses an admin request unless its Host is the bound name (DNS rebinding), it bears
    the token, and a body comes as JSON (a page's no-cors POST can only send text/plain)."""

    def __init__(self, token: str, hosts: set[str]) -> None:
        self._expected = f"Bearer {token}".encode()
        self._hosts: frozenset[str] = frozenset(hosts)

    def allow(self, names: set[str], port: int) -> None:
        self._hosts = frozenset(f"{name}:{port}".lower() for name in names)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "").lower()
        if host not in self._hosts:
            return json_answer(421, {"error": f"host: {host[:80]!r} is not a name of this service"})
        offered = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, self._expected):
            return web.Response(
                status=401,
                body=orjson.dumps({"error": "authorization: admin bearer token required"}),
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.method == "POST" and request.content_type != "application/json":
            return json_answer(415, {"error": "content-type: must be application/json"})
        return await handler(request)


async def _add_fault(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY.fullmatch(key):
        return json_answer(400, {"error": "idempotency-key: 1-128 letters, digits or ._:/-"})
    try:
        spec = FaultSpec.model_validate_json(await request.read())
    except ValidationError as invalid:
        return json_answer(400, {"error": one_line(invalid)})
    given_id = request.headers.get(FAULT_ID_HEADER) if state.cluster is not None else None
    try:
        fault, new = state.faults.add_once(spec, key, given_id)
    except FaultRefused as refused:
        return json_answer(409, {"error": str(refused)})
    if new and state.members is not None:
        try:
            await state.members.call_all(
                "POST", "/admin/faults", body=spec.model_dump_json().encode(),
                headers={FAULT_ID_HEADER: fault.fault_id})
        except MemberUnreachable as unreachable:
            state.faults.remove(fault.fault_id)
            await _quietly(state.members.call_all("DELETE", f"/admin/faults/{fault.fault_id}"))
            return json_answer(502, {"error": f"fault not injected: {unreachable}"})
    return json_answer(201 if new else 200, fault.describe(fault.started_at))


async def _quietly(call: Awaitable[object]) -> None:
    with contextlib.suppress(MemberUnreachable):
        await call


async def _fan_out(state: TargetState, method: str, path: str, body: bytes | None = None,
                   ) -> web.Response | None:
    """The same change on every other process; a 502 naming the one that did not take it."""
    if state.members is None:
        return None
    try:
        await state.members.call_all(method, path, body=body)
    except MemberUnreachable as unreachable:
        return json_answer(502, {"error": str(unreachable)})
    return None


async def _list_faults(request: web.Request) -> web.StreamResponse:
    return json_answer(200, {"faults": request.app[STATE].faults.describe()})


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    cleared = state.faults.clear()
    refused = await _fan_out(state, "DELETE", "/admin/faults")
    return refused or json_answer(200, {"cleared": cleared})


async def _delete_fault(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    fault_id = request.match_info["fault_id"]
    if state.faults.remove(fault_id):
        if state.members is not None:
            # A member whose copy has expired already answers 404: that is the same end.
            await _quietly(state.members.call_all("DELETE", f"/admin/faults/{fault_id}"))
        return json_answer(200, {"deleted": fault_id})
    return json_answer(404, {"error": f"fault_id: no active fault {fault_id!r}"})


async def _set_degradation(request: web.Request) -> web.StreamResponse:
    orchestrator = request.app[STATE].orchestrator
    try:
        wanted = DegradationRequest.model_validate_json(await request.read())
    except ValidationError as invalid:
        return json_answer(400, {"error": one_line(invalid)})
    previous = orchestrator.degradation
    orchestrator.degradation = wanted.level
    body = orjson.dumps({"level": wanted.level.value})
    failed = await _fan_out(request.app[STATE], "POST", "/admin/degradation", body)
    return failed or json_answer(200, {"level": wanted.level.value, "previous": previous.value})


async def _get_degradation(request: web.Request) -> web.StreamResponse:
    return json_answer(200, {"level": request.app[STATE].orchestrator.degradation.value})


async def _admin_stats(request: web.Request) -> web.StreamResponse:
    """/v1/stats read from the admin thread (counters are copied whole under the GIL),
    summed over every process of the service."""
    state = request.app[STATE]
    return _response(await summed_stats(state, request.query.get("run_id"), state.members))


def _response(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, content_type="application/json")


async def _admin_health(request: web.Request) -> web.StreamResponse:
    orchestrator = request.app[STATE].orchestrator
    agents = orchestrator.health(now=time.monotonic())
    healthy = all(agent["healthy"] for agent in agents.values())
    members = request.app[STATE].members
    processes = 1 + (len(members.urls) if members is not None else 0)
    return json_answer(200, {"status": "ok" if healthy else "degraded", "agents": agents,
                       "degradation": orchestrator.degradation.value, "processes": processes})
