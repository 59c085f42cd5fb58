"""The local dashboard server's routes: config.json, the control API under /api (the contract
of stresslab.control, as on AWS), run records and exports, and the built site."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from yarl import URL

from stresslab.baseline_series import NotFinished, baseline_list, run_series
from stresslab.control import (
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
from stresslab.local.fault_timeline import FaultsUnavailable
from stresslab.local.faults import FaultInjectionFailed
from stresslab.local.http_guards import (
    answer_response,
    error_response,
    json_response,
    operator_only,
)
from stresslab.local.metrics_endpoint import CONTENT_TYPE as METRICS_TYPE
from stresslab.local.metrics_endpoint import render_metrics
from stresslab.local.run_control import NoRun, RunController, RunInProgress, build_spec
from stresslab.local.server_settings import PAGES
from stresslab.local.store import RunNotFound
from stresslab.measurement.live import LIVE_SCHEMA
from stresslab.outputs.junit import render_junit_xml
from stresslab.outputs.report import render_report_html
from stresslab.outputs.timeseries_csv import render_timeseries_csv
from stresslab.runs import EXPORT_CHARSET, EXPORT_MEDIA_TYPES
from stresslab.scenario.presentation import (
    PLACEHOLDERS,
    PresentationError,
    load_benchmarks,
    load_profile,
)

log = logging.getLogger("stresslab.local.server")  # one log for the server's modules

CONTROLLER = web.AppKey("stresslab_controller", RunController)
EXPORTS = EXPORT_MEDIA_TYPES
Model = TypeVar("Model", bound=BaseModel)


async def _body(request: web.Request, model: type[Model]) -> Model:
    return parse_request(model, await request.read())


async def _config(request: web.Request) -> web.StreamResponse:
    host = request.host
    return json_response(200, {
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
    return json_response(200, listing.model_dump(mode="json"))


async def _fault_types(_: web.Request) -> web.StreamResponse:
    return json_response(200, fault_type_list().model_dump(mode="json"))


async def _runs(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    current = controller.current
    return json_response(200, RunList(current=current.run_id if current else None,
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
    return json_response(200, record)


async def _baselines(request: web.Request) -> web.StreamResponse:
    """Finished runs a page may overlay: ?scenario= names the live run's, listed first."""
    controller = request.app[CONTROLLER]
    current = controller.current
    listing = baseline_list(controller.store.list_runs(), request.query.get("scenario"),
                            exclude=current.run_id if current else None)
    return json_response(200, listing.model_dump(mode="json"))


async def _series(request: web.Request) -> web.StreamResponse:
    record = _record(request)
    try:
        series = run_series(record, request.app[CONTROLLER].store.series(record["run_id"]))
    except NotFinished as error:
        return error_response(409, str(error))
    return json_response(200, series.model_dump(mode="json"))


async def _start_run(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    start = await _body(request, StartRun)
    spec = build_spec(start, controller.settings)
    try:
        run = controller.start(spec, start.target_url, start.baseline)
    except RunInProgress as error:
        return error_response(409, str(error))
    return answer_response(202, RunStarted(run_id=run.run_id, scenario=spec.name,
                                   duration_s=spec.duration, peak_tps=spec.profile().peak(),
                                   transactions=run.plan.scheduled_total))


async def _stop_run(request: web.Request) -> web.StreamResponse:
    try:
        run_id = request.app[CONTROLLER].stop()
    except NoRun as error:
        return error_response(409, str(error))
    return answer_response(202, RunStopping(run_id=run_id, status="stopping"))


async def _inject(request: web.Request) -> web.StreamResponse:
    fault = await _body(request, InjectFault)
    try:
        window = await request.app[CONTROLLER].inject(fault)
    except (NoRun, FaultsUnavailable) as error:
        return error_response(409, str(error))
    except FaultInjectionFailed as error:
        return error_response(502, f"the target did not take the fault: {error}")
    return answer_response(201, FaultInjected.model_validate(window))


async def _export(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in EXPORTS:
        return error_response(404, f"export: one of {', '.join(EXPORTS)}")
    record = _record(request)
    summary = record["summary"]
    if summary is None:
        return error_response(
            409, f"run {record['run_id']} has no summary yet (status {record['status']})")
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
    return error_response(500, str(error))


async def _profiles(request: web.Request) -> web.StreamResponse:
    return answer_response(200, profile_list(request.app[CONTROLLER].settings.presentation_dir))


async def _profile(request: web.Request) -> web.StreamResponse:
    settings = request.app[CONTROLLER].settings
    try:
        benchmarks = load_benchmarks(settings.benchmarks_file)
        profile = load_profile(request.match_info["name"], settings.presentation_dir,
                               benchmarks)
    except LookupError as error:
        return error_response(404, f"name: {error}")
    except PresentationError as error:
        return _presentation_failed(error)
    return json_response(200, {**profile.model_dump(mode="json"), "placeholders": PLACEHOLDERS})


async def _benchmarks(request: web.Request) -> web.StreamResponse:
    try:
        listing = benchmark_list(request.app[CONTROLLER].settings.benchmarks_file)
    except PresentationError as error:
        return _presentation_failed(error)
    return json_response(200, listing.model_dump(mode="json"))


async def _metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus's view of the live run (or the last one): open like /ws, which carries the
    same numbers; the Host allow-list still applies."""
    run = request.app[CONTROLLER].latest
    if run is None:
        text = render_metrics(None, None)
    else:
        snapshot = run.snapshot()
        text = render_metrics(snapshot.run, snapshot.history[-1] if snapshot.history else None)
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_TYPE,
                                                     "Cache-Control": "no-store"})


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


def add_routes(app: web.Application, controller: RunController) -> None:
    """Every route of the dashboard server, around one run controller."""
    app[CONTROLLER] = controller
    routes = app.router
    routes.add_get("/config.json", _config)
    routes.add_get("/ws", controller.hub.handle)
    routes.add_get("/api/scenarios", _scenarios)
    routes.add_get("/api/fault-types", _fault_types)
    routes.add_get("/api/runs", _runs)
    routes.add_post("/api/runs", operator_only(_start_run))
    routes.add_post("/api/runs/current/stop", operator_only(_stop_run))
    routes.add_get("/api/runs/{run_id}", _run_record)
    routes.add_get("/api/runs/{run_id}/series", _series)
    routes.add_get("/api/baselines", _baselines)
    routes.add_get("/api/runs/{run_id}/export/{name}", operator_only(_export))
    routes.add_post("/api/faults", operator_only(_inject))
    routes.add_get("/api/profiles", _profiles)
    routes.add_get("/api/profiles/{name}", _profile)
    routes.add_get("/api/benchmarks", _benchmarks)
    routes.add_get("/metrics", _metrics)
    routes.add_get("/", _root)
    routes.add_get("/{path:.*}", _site)
