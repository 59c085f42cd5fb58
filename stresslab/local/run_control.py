"""The one run the local dashboards drive: the start request resolved within the server's
ceilings, then started, stopped and faulted, and what its viewers see meanwhile."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from stresslab.control import InjectFault, StartRun
from stresslab.local.http_guards import BadRequest
from stresslab.local.hub import BroadcastHub
from stresslab.local.runner import RECENT_RUNS, LocalRun, LocalRunOptions, failure_reason
from stresslab.local.server_settings import ServerSettings
from stresslab.local.store import SqliteRunStore
from stresslab.measurement.live import Snapshot
from stresslab.outputs.baselines import Baseline, baseline_of_run
from stresslab.ports import Broadcaster
from stresslab.scenario.durations import format_duration
from stresslab.scenario.resolve import (
    AboveCeiling,
    Ceilings,
    CeilingWording,
    Overrides,
    Scales,
    resolve_scenario,
    scenario_error_line,
)
from stresslab.scenario.spec import FaultSpec, ScenarioError, ScenarioSpec
from stresslab.targets.factory import TARGET_SETUP_ERRORS, check_target, with_target_url
from stresslab.targets.secrets import api_secret_policy

log = logging.getLogger("stresslab.local.server")  # one log for the server's modules

STOP_TIMEOUT_S = 60.0


class Broadcasts:
    """The viewers first, then a side sink (OTLP) whose trouble never reaches them."""

    def __init__(self, viewers: Broadcaster, side: Broadcaster) -> None:
        self._viewers = viewers
        self._side = side

    def publish(self, message: str) -> None:
        self._viewers.publish(message)
        try:
            self._side.publish(message)
        except Exception:  # noqa: BLE001 - a metrics sink must not cost a viewer a message
            log.exception("a live message could not be exported")

CEILING_WORDING = CeilingWording(
    tps=lambda peak, ceiling: (f"tps: at most {ceiling:,.0f} TPS for a run started here; "
                               f"this one peaks at {peak:,.0f}"),
    duration=lambda seconds, ceiling: (f"duration: at most {format_duration(ceiling)} for a run "
                                       f"started here; this one lasts {format_duration(seconds)}"),
)


def build_spec(request: StartRun, settings: ServerSettings) -> ScenarioSpec:
    """The scenario a start request asks for, scaled and within the server's ceilings."""
    if request.target_stream is not None:
        raise BadRequest("target_stream: the local runtime sends to HTTP targets only; "
                         "give target_url, or neither for the bundled reference service")
    duration = None if request.duration is None else float(request.duration)
    try:
        spec = resolve_scenario(
            request.scenario, Overrides(tps=request.tps, duration=duration),
            Scales(time=request.time_scale, load=request.load_scale),
            Ceilings(max_tps=settings.max_tps, max_duration_s=settings.max_duration_s),
            scenarios_dir=settings.scenarios_dir, bundled_only=True,
        )
    except AboveCeiling as above:
        raise BadRequest(above.worded(CEILING_WORDING)) from None
    except ScenarioError as error:
        raise BadRequest(scenario_error_line(error)) from None
    try:  # a target section's secrets, files and credentials, before anything starts
        target = with_target_url(spec, request.target_url)
        # only the secrets the server was started to share: never the rest of its environment
        api_secret_policy(settings.allowed_secrets).check(
            [request.target_url or "", target.target.model_dump(mode="json") if target.target
             else None])
        check_target(target, os.environ)
    except TARGET_SETUP_ERRORS as error:
        raise BadRequest(str(error)) from None
    return spec



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

    @property
    def latest(self) -> LocalRun | None:
        """The run in progress, else the last one: what a viewer or a scraper is shown."""
        return self._run or self._last

    def _snapshot_json(self) -> str:
        runs = self.store.list_runs(RECENT_RUNS)
        run = self.latest
        return (run.snapshot(runs) if run else Snapshot(run=None, runs=runs)).to_json()

    def start(self, spec: ScenarioSpec, target_url: str | None = None,
              baseline: str | None = None) -> LocalRun:
        """BadRequest when `baseline` names no stored run of this scenario."""
        if self.current is not None:
            raise RunInProgress(f"run {self.current.run_id} is in progress; stop it first")
        run = LocalRun(LocalRunOptions(spec=spec, db_path=self.settings.db_path, progress=False,
                                       broadcaster=self._broadcaster(spec),
                                       target_url=target_url))
        if baseline is not None:
            run.options.baseline = self._baseline(run, baseline)
        run.options.out_dir = self.settings.results_dir / run.run_id
        self._run = run
        self._task = asyncio.create_task(self._execute(run))
        self.hub.publish(self._snapshot_json())  # every viewer switches to the starting run
        self._announce(f"run {run.run_id}: {spec.name}, {format_duration(spec.duration)}, "
                       f"peak {spec.profile().peak():,.0f} TPS")
        return run

    def _broadcaster(self, spec: ScenarioSpec) -> Broadcaster:
        """The viewers, and the OTLP collector when the server has one."""
        if self.settings.otlp_endpoint is None:
            return self.hub
        from stresslab.local.otlp_export import OtlpExporter

        return Broadcasts(self.hub, OtlpExporter(self.settings.otlp_endpoint, spec.name))

    def _baseline(self, run: LocalRun, asked: str) -> Baseline:
        try:
            return baseline_of_run(run.spec, run.options.target_url, asked,
                                   self.settings.db_path, self.settings.results_dir,
                                   stored_only=True)
        except ValueError as error:
            raise BadRequest(f"baseline: {error}") from None

    async def _execute(self, run: LocalRun) -> None:
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
