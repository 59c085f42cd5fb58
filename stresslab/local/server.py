"""The local dashboard server: the built site, config.json, the /ws hub and the control API."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
from aiohttp import web
from pydantic import BaseModel
from yarl import URL

from stresslab.control import (
    ContractError,
    ErrorBody,
    FaultInjected,
    InjectFault,
    Limits,
    RunList,
    RunStarted,
    RunStopping,
    StartRun,
    benchmark_list,
    fault_type_list,
    parse_request,
    profile_list,
    scenario_list,
)
from stresslab.generation.catalog import CURRENCIES, FX_REFERENCE_DATE
from stresslab.local.faults import FaultInjectionFailed
from stresslab.local.hub import BroadcastHub, HubLimits
from stresslab.local.runner import RECENT_RUNS, FaultsUnavailable, LocalRun, LocalRunOptions
from stresslab.local.store import RunNotFound, SqliteRunStore
from stresslab.measurement.live import LIVE_SCHEMA, Snapshot
from stresslab.outputs.junit import render_junit_xml
from stresslab.outputs.report import render_report_html
from stresslab.outputs.timeseries_csv import render_timeseries_csv
from stresslab.runs import EXPORT_CHARSET, EXPORT_MEDIA_TYPES
from stresslab.scenario.durations import format_duration
from stresslab.scenario.presentation import (
    BENCHMARKS_FILE,
    PLACEHOLDERS,
    PRESENTATION_DIR,
    PresentationError,
    load_benchmarks,
    load_profile,
)
from stresslab.scenario.resolve import AboveCeiling, Ceilings, Overrides, Scales, resolve_scenario
from stresslab.scenario.spec import SCENARIOS_DIR, FaultSpec, ScenarioError, ScenarioSpec

log = logging.getLogger(__name__)

SITE_DIR = SCENARIOS_DIR.parent / "dashboard_site" / "dist"
PAGES = ("presentation", "analytics", "agents", "admin")
MAX_BODY_BYTES = 16 * 1024
STOP_TIMEOUT_S = 60.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")

EXPORTS = EXPORT_MEDIA_TYPES


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    db_path: Path = Path(".stresslab/runs.db")
    results_dir: Path = Path("results")
    site_dir: Path = SITE_DIR
    scenarios_dir: Path = SCENARIOS_DIR
    presentation_dir: Path = PRESENTATION_DIR
    benchmarks_file: Path = BENCHMARKS_FILE
    max_tps: float = 20_000
    max_duration_s: float = 7200
    hub_limits: HubLimits = field(default_factory=HubLimits)
    allowed_hosts: tuple[str, ...] = ()  # names besides loopback and `host` a browser may use
    # Idle keep-alive connections, and requests whose headers never end, are cut after this.
    keepalive_timeout_s: float = 15.0
    max_connections: int = 512

    def host_names(self) -> frozenset[str]:
        """The names this server answers to: the Host allow-list. Bound to every interface,
        that is this machine's name and each of its addresses."""
        names = {*LOOPBACK_NAMES, *self.allowed_hosts}
        if self.host in WILDCARD_HOSTS:
            names.add(socket.gethostname())
            names.update(address.address.split("%")[0]
                         for addresses in psutil.net_if_addrs().values()
                         for address in addresses
                         if address.family in (socket.AF_INET, socket.AF_INET6))
        else:
            names.add(self.host)
        return frozenset(name.lower().strip("[]") for name in names)


# ------------------------------------------------------------------------------ requests

# The request bodies are the control API contract's (stresslab.control), shared with AWS.
RunRequest = StartRun
FaultRequest = InjectFault


class BadRequest(ValueError):
    """A request that cannot be carried out; the message names the field."""


def build_spec(request: StartRun, settings: ServerSettings) -> ScenarioSpec:
    """The scenario a start request asks for, scaled and within the server's ceilings."""
    if request.target_stream is not None:
        raise BadRequest("target_stream: the local runtime sends to HTTP targets only; "
                         "give target_url, or neither for the bundled reference service")
    duration = None if request.duration is None else float(request.duration)
    try:
        return resolve_scenario(
            request.scenario, Overrides(tps=request.tps, duration=duration),
            Scales(time=request.time_scale, load=request.load_scale),
            Ceilings(max_tps=settings.max_tps, max_duration_s=settings.max_duration_s),
            scenarios_dir=settings.scenarios_dir, bundled_only=True,
        )
    except AboveCeiling as above:
        if above.limit == "tps":
            raise BadRequest(f"tps: at most {above.ceiling:,.0f} TPS for a run started here; "
                             f"this one peaks at {above.value:,.0f}") from None
        raise BadRequest(f"duration: at most {format_duration(above.ceiling)} for a run "
                         f"started here; this one lasts {format_duration(above.value)}") from None
    except ScenarioError as error:
        message = str(error)
        raise BadRequest(message if message.startswith("scenario")
                         else f"scenario: {message}") from None


# ------------------------------------------------------------------------------ the run


class RunInProgress(RuntimeError):
    """Only one run at a time."""


class NoRun(RuntimeError):
    """Nothing is running."""


class RunController:
    """The one run the dashboards can start, stop and fault, and what their viewers see."""

    def __init__(
        self, settings: ServerSettings, announce: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings
        self.store = SqliteRunStore(settings.db_path)
        self.hub = BroadcastHub(self._snapshot_json, settings.hub_limits)
        self._announce = announce or log.info
        self._run: LocalRun | None = None
        self._last: LocalRun | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def current(self) -> LocalRun | None:
        return self._run if self._task is not None and not self._task.done() else None

    def _snapshot_json(self) -> str:
        runs = self.store.list_runs(RECENT_RUNS)
        run = self._run or self._last
        return (run.snapshot(runs) if run else Snapshot(run=None, runs=runs)).to_json()

    def start(self, spec: ScenarioSpec, target_url: str | None = None) -> LocalRun:
        if self.current is not None:
            raise RunInProgress(f"run {self.current.run_id} is in progress; stop it first")
        run = LocalRun(LocalRunOptions(spec=spec, db_path=self.settings.db_path, progress=False,
                                       broadcaster=self.hub, target_url=target_url))
        run.options.out_dir = self.settings.results_dir / run.run_id
        self._run = run
        self._task = asyncio.create_task(self._execute(run))
        self.hub.publish(self._snapshot_json())  # every viewer switches to the starting run
        self._announce(f"run {run.run_id}: {spec.name}, {format_duration(spec.duration)}, "
                       f"peak {spec.profile().peak():,.0f} TPS")
        return run

    async def _execute(self, run: LocalRun) -> None:
        from stresslab.local.runner import failure_reason

        try:
            result = await run.execute()
        except Exception as error:  # noqa: BLE001 - the server outlives a failed run
            self._announce(f"run {run.run_id} failed: {failure_reason(error)}")
        else:
            summary = result.run_summary
            self._announce(f"run {run.run_id} {summary.status}, "
                           f"{'PASSED' if summary.passed else 'FAILED'}: "
                           f"results in {run.options.out_dir}")
        finally:
            self._last, self._run = run, None

    def stop(self) -> str:
        run = self.current
        if run is None:
            raise NoRun("no run in progress")
        run.request_stop()
        return run.run_id

    async def inject(self, request: InjectFault) -> dict[str, Any]:
        run = self.current
        if run is None:
            raise NoRun("no run in progress")
        fault = FaultSpec(type=request.type, target=request.target, at=0.0,
                          duration=request.duration_s, intensity=request.strength,
                          label=request.label or "Injected from the admin page")
        return await run.inject_now(fault)

    async def wait(self) -> None:
        """Until the run in progress (if any) has finished."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def shutdown(self) -> None:
        if self.current is not None:
            self.current.request_stop()
            assert self._task is not None
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)
            except TimeoutError:
                self._task.cancel()
        await self.hub.close()
        self.store.close()


# ------------------------------------------------------------------------------ HTTP

CONTROLLER = web.AppKey("stresslab_controller", RunController)
HOST_NAMES = web.AppKey("stresslab_host_names", frozenset)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Model = TypeVar("Model", bound=BaseModel)


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def _error(status: int, message: str) -> web.Response:
    return _json(status, ErrorBody(error=message).model_dump())


def _answer(status: int, answer: BaseModel) -> web.Response:
    return _json(status, answer.model_dump(mode="json", exclude_none=True))


def _host_name(raw: str) -> str | None:
    try:
        return URL(f"http://{raw}").host
    except ValueError:
        return None


def _refusal(request: web.Request, host_names: frozenset[str]) -> str | None:
    """Why a request may not be served: a name that is not ours (DNS rebinding), or, for the
    feed and the API, a page of another origin. None: serve it."""
    raw_host = request.headers.get("Host")
    if raw_host is not None:
        name = _host_name(raw_host)
        if name is None or name.lower().rstrip(".") not in host_names:
            return (f"host: {raw_host!r} is not a name of this server; open it as "
                    f"http://127.0.0.1 or a name given with --host")
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(("/api/", "/ws")):
        return None  # tools send no Origin; browsers always do across origins
    own = URL.build(scheme=request.scheme, authority=request.host).origin()
    try:
        offered = URL(origin).origin()
    except ValueError:
        offered = None
    if offered != own:
        return (f"origin: pages of {origin} may not use this server's "
                f"{'live feed' if request.path.startswith('/ws') else 'API'}; only {own}")
    return None


@web.middleware
async def _same_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host and Origin allow-lists, ahead of everything else."""
    reason = _refusal(request, request.app[HOST_NAMES])
    if reason is None:
        return await handler(request)
    log.warning("refused %s %s: %s", request.method, request.path, reason)
    if request.path.startswith("/api/"):
        return _error(403, reason)
    return web.Response(status=403, text=reason + "\n")


def content_security_policy(request: web.Request) -> str:
    """Scripts only from this server, no inline script, no framing, talk only to ourselves."""
    sources = ["'self'"]
    if _refusal(request, request.app[HOST_NAMES]) is None:
        sources.append(f"{'wss' if request.secure else 'ws'}://{request.host}")
    return "; ".join((
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "font-src 'self' data:", f"connect-src {' '.join(sources)}",
        "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ))


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = content_security_policy(request)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api every failure is JSON with one line saying what went wrong."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except (BadRequest, ContractError) as error:
        return _error(400, str(error))
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    except web.HTTPException as error:
        if error.content_type == "application/json":
            raise
        return _error(error.status, error.reason)
    except Exception:  # noqa: BLE001 - the caller gets one line, the log the traceback
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, "internal error: see the server's log")


def _operator(handler: Handler) -> Handler:
    """Control actions need the bearer token printed when the server started."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        expected = f"Bearer {request.app[CONTROLLER].settings.token}".encode()
        offered = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, expected):
            response = _error(401, "authorization: send 'Authorization: Bearer <token>' with "
                                   "the token printed when the server started")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await handler(request)

    return guarded


async def _body(request: web.Request, model: type[Model]) -> Model:
    return parse_request(model, await request.read())


async def _config(request: web.Request) -> web.StreamResponse:
    host = request.host
    return _json(200, {
        "mode": "local",
        "ws_url": f"ws://{host}/ws",
        "api_url": f"http://{host}/api",
        "fx_usd_per_unit": {code: c.usd_per_unit for code, c in CURRENCIES.items()},
        "fx_reference_date": FX_REFERENCE_DATE,
        "version": LIVE_SCHEMA,
    })


async def _scenarios(request: web.Request) -> web.StreamResponse:
    settings = request.app[CONTROLLER].settings
    skipped: list[str] = []
    listing = scenario_list(settings.scenarios_dir, Limits(
        max_tps=settings.max_tps, max_duration_s=settings.max_duration_s), skipped)
    for reason in skipped:
        log.warning("scenario not offered: %s", reason)
    return _json(200, listing.model_dump(mode="json"))


async def _fault_types(_: web.Request) -> web.StreamResponse:
    return _json(200, fault_type_list().model_dump(mode="json"))


async def _runs(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    current = controller.current
    return _json(200, RunList(current=current.run_id if current else None,
                              runs=controller.store.list_runs()).model_dump(mode="json"))


def _record(request: web.Request) -> dict[str, Any]:
    run_id = request.match_info["run_id"]
    try:
        return request.app[CONTROLLER].store.get_run(run_id)
    except RunNotFound:
        raise web.HTTPNotFound(text=json.dumps({"error": f"run_id: no run {run_id!r}"}),
                               content_type="application/json") from None


async def _run_record(request: web.Request) -> web.StreamResponse:
    record = _record(request)
    record.pop("plan", None)
    return _json(200, record)


async def _start_run(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    start = await _body(request, StartRun)
    spec = build_spec(start, controller.settings)
    try:
        run = controller.start(spec, start.target_url)
    except RunInProgress as error:
        return _error(409, str(error))
    return _answer(202, RunStarted(run_id=run.run_id, scenario=spec.name,
                                   duration_s=spec.duration, peak_tps=spec.profile().peak(),
                                   transactions=run.plan.scheduled_total))


async def _stop_run(request: web.Request) -> web.StreamResponse:
    try:
        run_id = request.app[CONTROLLER].stop()
    except NoRun as error:
        return _error(409, str(error))
    return _answer(202, RunStopping(run_id=run_id, status="stopping"))


async def _inject(request: web.Request) -> web.StreamResponse:
    fault = await _body(request, InjectFault)
    try:
        window = await request.app[CONTROLLER].inject(fault)
    except (NoRun, FaultsUnavailable) as error:
        return _error(409, str(error))
    except FaultInjectionFailed as error:
        return _error(502, f"the target did not take the fault: {error}")
    return _answer(201, FaultInjected.model_validate(window))


async def _export(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in EXPORTS:
        return _error(404, f"export: one of {', '.join(EXPORTS)}")
    record = _record(request)
    summary = record["summary"]
    if summary is None:
        return _error(409, f"run {record['run_id']} has no summary yet (status {record['status']})")
    series = request.app[CONTROLLER].store.series(record["run_id"])
    renderers: dict[str, Callable[[], str]] = {
        "summary.json": lambda: json.dumps(summary, indent=2) + "\n",
        "timeseries.csv": lambda: render_timeseries_csv(series),
        "report.html": lambda: render_report_html(summary, series),
        "junit.xml": lambda: render_junit_xml(summary),
    }
    return web.Response(text=renderers[name](), content_type=EXPORTS[name], charset=EXPORT_CHARSET,
                        headers={"Content-Disposition":
                                 f'attachment; filename="{record["run_id"]}-{name}"'})


def _presentation_failed(error: PresentationError) -> web.Response:
    log.error("%s", error)
    return _error(500, str(error))


async def _profiles(request: web.Request) -> web.StreamResponse:
    return _answer(200, profile_list(request.app[CONTROLLER].settings.presentation_dir))


async def _profile(request: web.Request) -> web.StreamResponse:
    settings = request.app[CONTROLLER].settings
    try:
        benchmarks = load_benchmarks(settings.benchmarks_file)
        profile = load_profile(request.match_info["name"], settings.presentation_dir,
                               benchmarks)
    except LookupError as error:
        return _error(404, f"name: {error}")
    except PresentationError as error:
        return _presentation_failed(error)
    return _json(200, {**profile.model_dump(mode="json"), "placeholders": PLACEHOLDERS})


async def _benchmarks(request: web.Request) -> web.StreamResponse:
    try:
        listing = benchmark_list(request.app[CONTROLLER].settings.benchmarks_file)
    except PresentationError as error:
        return _presentation_failed(error)
    return _json(200, listing.model_dump(mode="json"))


_NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8">
<title>stresslab: dashboard not built</title>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>The dashboard site is not built yet</h1>
<p>{missing} is missing. Run <code>make site</code> in the stresslab folder, then reload
this page. Runs, the WebSocket feed and the API under <code>/api</code> work meanwhile.</p>
</body></html>
"""


def _not_built(missing: str) -> web.Response:
    return web.Response(status=503, text=_NOT_BUILT.format(missing=missing),
                        content_type="text/html", headers={"Retry-After": "10"})


def _without_token(path: str, request: web.Request) -> str:
    """Where to send a browser, keeping its query but never a token (it belongs in #token=)."""
    query = [(key, value) for key, value in request.query.items() if key != "token"]
    return str(URL.build(path=path, query=query))


async def _root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(_without_token("/presentation", request))


async def _site(request: web.Request) -> web.StreamResponse:
    """Files of dashboard_site/dist; /<page> is dist/<page>.html."""
    dist = request.app[CONTROLLER].settings.site_dir.resolve()
    path = request.match_info["path"]
    is_page = path in PAGES
    if is_page and "token" in request.query:
        raise web.HTTPFound(_without_token(f"/{path}", request))
    if not dist.is_dir():
        return _not_built("dashboard_site/dist")
    candidates = [dist / f"{path}.html", dist / path / "index.html"] if is_page else [dist / path]
    for candidate in candidates:
        resolved = candidate.resolve()
        if resolved.is_relative_to(dist) and resolved.is_file():
            headers = {"Cache-Control": "no-cache"} if resolved.suffix == ".html" else {}
            return web.FileResponse(resolved, headers=headers)
    if is_page:
        return _not_built(f"dashboard_site/dist/{path}.html")
    raise web.HTTPNotFound()


def create_app(controller: RunController) -> web.Application:
    """The dashboard server as an aiohttp application around one run controller."""
    app = web.Application(client_max_size=MAX_BODY_BYTES,
                          middlewares=[_same_origin_only, _api_errors])
    app[CONTROLLER] = controller
    app[HOST_NAMES] = controller.settings.host_names()
    app.on_response_prepare.append(_security_headers)
    routes = app.router
    routes.add_get("/config.json", _config)
    routes.add_get("/ws", controller.hub.handle)
    routes.add_get("/api/scenarios", _scenarios)
    routes.add_get("/api/fault-types", _fault_types)
    routes.add_get("/api/runs", _runs)
    routes.add_post("/api/runs", _operator(_start_run))
    routes.add_post("/api/runs/current/stop", _operator(_stop_run))
    routes.add_get("/api/runs/{run_id}", _run_record)
    routes.add_get("/api/runs/{run_id}/export/{name}", _operator(_export))
    routes.add_post("/api/faults", _operator(_inject))
    routes.add_get("/api/profiles", _profiles)
    routes.add_get("/api/profiles/{name}", _profile)
    routes.add_get("/api/benchmarks", _benchmarks)
    routes.add_get("/", _root)
    routes.add_get("/{path:.*}", _site)
    return app


def _cap_connections(server: web.Server, limit: int) -> None:
    """Connections beyond `limit` are closed as they arrive (aiohttp itself has no cap)."""
    admit = server.connection_made

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        admit(handler, transport)
        if len(server.connections) > limit:
            log.warning("refusing a connection: %d open, at most %d", limit + 1, limit)
            transport.abort()

    server.connection_made = connection_made  # type: ignore[method-assign]


@dataclass
class RunningServer:
    """The dashboard server listening on a real socket until `stop`."""

    url: str
    controller: RunController
    _runner: web.AppRunner

    @property
    def token(self) -> str:
        return self.controller.settings.token

    def page_urls(self) -> dict[str, str]:
        urls = {page: f"{self.url}/{page}" for page in PAGES}
        # In the fragment, the token never reaches a server log, a Referer or a redirect.
        urls["admin"] += f"#token={self.token}"
        return urls

    async def stop(self) -> None:
        await self.controller.shutdown()
        await self._runner.cleanup()


async def start_server(
    settings: ServerSettings, announce: Callable[[str], None] | None = None
) -> RunningServer:
    """Serve the dashboards on settings.host:port (0: a free port) in the running loop."""
    controller = RunController(settings, announce)
    runner = web.AppRunner(create_app(controller), access_log=None,
                           keepalive_timeout=settings.keepalive_timeout_s)
    await runner.setup()
    assert runner.server is not None
    _cap_connections(runner.server, settings.max_connections)
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except BaseException:
        await runner.cleanup()
        controller.store.close()
        raise
    port = runner.addresses[0][1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return RunningServer(f"http://{host}:{port}", controller, runner)
