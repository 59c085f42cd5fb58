"""The local runtime: one run on this machine, from plan to summary, with worker processes.

The run loop composes its parts: the target supervisor (where to send, the reference
service's life), the fault timeline, the degradation controller, the batch intake and the
live publisher; each is in its own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresslab.generation.catalog import CURRENCIES
from stresslab.generation.plan import ArrivalSchedule, Plan, plan_run
from stresslab.judgement.business import load_price_table
from stresslab.judgement.degradation import DegradationTracker, SecondHealth, health_of
from stresslab.judgement.phases import phase_windows
from stresslab.judgement.summary import InvalidAnswers, RunFacts, RunSummary, summarize_run
from stresslab.local.batch_intake import BatchIntake
from stresslab.local.degradation_control import DegradationController
from stresslab.local.fault_timeline import FaultTimeline
from stresslab.local.faults import describe_error
from stresslab.local.garbage import GarbageSweep
from stresslab.local.infra import ProcessMeter, TargetProbe
from stresslab.local.live_publisher import LivePublisher, RunNotes
from stresslab.local.progress import ProgressDisplay, progress_line
from stresslab.local.reference_process import ReferenceService
from stresslab.local.run_clock import RunClock
from stresslab.local.store import SqliteRunStore
from stresslab.local.target_supervisor import TargetSupervisor
from stresslab.local.workers import WorkerPool
from stresslab.measurement.aggregate import RunAggregator, aggregator_from_batches
from stresslab.measurement.live import Snapshot, describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import WindowStats
from stresslab.measurement.seconds import SpilledSeconds
from stresslab.outputs.baselines import Baseline, judge_regressions
from stresslab.outputs.report import write_outputs
from stresslab.ports import Broadcaster
from stresslab.runs import iso, new_run_id
from stresslab.scenario.spec import FaultSpec, ScenarioSpec
from stresslab.targets.factory import target_url_of, with_target_url
from stresslab.targets.identity import TargetIdentity, identify_target

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 3
START_MARGIN_S = 0.5
TICK_S = 0.25
READY_TIMEOUT_S = 60.0
SETTLE_S = 0.02  # after a batch, let the other workers' batches of that second arrive too
LIVE_GRACE_S = 0.5  # how long a live tick waits for a late worker's batch of that second
RECENT_RUNS = 20


def failure_reason(error: BaseException) -> str:
    """Why a run failed, in one line that is never empty."""
    return describe_error(error)


@dataclass
class LocalRunOptions:
    spec: ScenarioSpec
    target_url: str | None = None
    out_dir: Path | None = None
    db_path: Path = Path(".stresslab/runs.db")
    progress: bool = True
    on_second: Callable[[dict[str, Any]], None] | None = None
    broadcaster: Broadcaster | None = None
    reference: ReferenceService | None = None  # a running reference service to reuse
    baseline: Baseline | None = None  # --baseline: judge the regression rules against it


@dataclass
class LocalRunResult:
    run_id: str
    run_summary: RunSummary
    series: list[dict[str, Any]]
    outputs: dict[str, Path]
    exit_code: int

    @property
    def summary(self) -> dict[str, Any]:
        """The summary as summary.json holds it."""
        return self.run_summary.to_json_dict()


class LocalRun:
    """Runs a ScenarioSpec against a target on this machine and writes its results."""

    def __init__(self, options: LocalRunOptions) -> None:
        self.options = options
        if options.target_url is None:  # the scenario's own `target:` section names the URL
            options.target_url = target_url_of(options.spec)
        else:  # --target or the start request's URL replaces the section's
            options.spec = with_target_url(options.spec, options.target_url)
        self.spec = spec = options.spec
        self.run_id = new_run_id(spec.name)
        self.plan: Plan = plan_run(spec, self.run_id)
        self.aggregator = RunAggregator(self.run_id, self.plan.expected_per_second)
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._start_at = self._context.Value("d", 0.0)
        self._aborted = False
        self._failure: str | None = None
        self.refused: str | None = None  # the one line when the target refused our credentials
        self._invalid = InvalidAnswers()
        self._pool: WorkerPool | None = None
        self._store: SqliteRunStore | None = None
        self._prices = load_price_table()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = RunClock()
        self._live = LivePublisher(LiveFeed(
            spec,
            describe_run(spec, self.run_id, iso(time.time()), "starting",
                         options.target_url or "local reference service",
                         self.plan.expected_per_second, self._identity()),
            self._prices, CURRENCIES[spec.reporting_currency].units_per_usd,
        ), options.broadcaster, self._clock)
        self._notes = RunNotes(self._live)
        self._target = TargetSupervisor(self._clock, self._notes, options.target_url,
                                        options.reference)
        self._faults = FaultTimeline(self.run_id, self.plan.faults, self._clock, self._live,
                                     self._notes)
        self._degradation = DegradationController(
            DegradationTracker(spec.degradation), math.ceil(spec.duration), self._clock,
            self._live, self._notes)
        self._intake = BatchIntake(self._notes, self._wake_soon)
        self.garbage = GarbageSweep()

    def request_stop(self) -> None:
        """Abort: workers stop scheduling, drain what is in flight and report."""
        self._aborted = True
        self._stop.set()

    @property
    def worker_pids(self) -> list[int]:
        """The worker processes now running (replacements included)."""
        return self._pool.pids if self._pool else []

    def snapshot(self, runs: list[dict[str, Any]] | None = None) -> Snapshot:
        """The run as a dashboard sees it on connect: run info, ticks and events so far."""
        return self._live.feed.snapshot(runs)

    def restart_aggregator(self) -> None:
        """Replace the aggregator by one rebuilt from the store, as after a restart mid-run.

        Every batch is stored before it is aggregated, so the store has all the old one had;
        batches still on their way are added when they come, and repeats are ignored.
        """
        if self._store is None:
            raise RuntimeError("the run has not started")
        batches = list(self._store.batches(self.run_id))
        self.aggregator = aggregator_from_batches(
            self.run_id, self.plan.expected_per_second, batches, self._spilled_seconds()
        )
        self._intake.recount(batches)

    async def inject_now(self, fault: FaultSpec) -> dict[str, Any]:
        """Inject a fault at this moment (its `at` is ignored); it joins the run's fault windows."""
        return await self._faults.inject_now(fault)

    def accept_batch(self, text: str) -> None:
        """A batch's JSON to aggregate (from the pump thread; or again, as a redelivery)."""
        self._intake.accept(text)

    def _credentials_refused(self, line: str) -> None:
        """From the pump thread: a worker's requests were refused N times running; stop all."""
        if self.refused is None:
            self.refused = line
        self.request_stop()
        self._wake_soon()

    def _wake_soon(self) -> None:
        """From the pump thread: let the supervisor handle a batch now rather than at its tick."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._wake.set)

    async def execute(self) -> LocalRunResult:
        self._loop = asyncio.get_running_loop()
        try:
            result = await self._execute_with_target()
        except BaseException as error:
            self._clock.ended = True
            self._live.announce_now("run_stopped", status="failed", passed=False,
                                    error=failure_reason(error))
            raise
        summary = result.run_summary
        # Announced once everything is cleaned up, so a viewer may start the next run at once.
        self._live.announce_now(
            "run_stopped", status=summary.status, passed=summary.passed,
            failed_criteria=[f"{c.expr} [{c.window}]" for c in summary.failed_criteria],
        )
        return result

    async def _execute_with_target(self) -> LocalRunResult:
        target = self._target
        try:
            url = await target.start()
            store = SqliteRunStore(self.options.db_path)
            try:
                await target.check(url)
                return await self._execute(url, store)
            finally:
                self._drop_spilled(store)
                store.close()
        finally:
            await target.stop()

    def _spilled_seconds(self) -> SpilledSeconds:
        """Closed seconds wait in the store, so the run's memory is bounded by the live window
        (HOT_SECONDS), not by its length; judging reads them back."""
        assert self._store is not None
        return SpilledSeconds(self._store.seconds_spill(self.run_id))

    def _drop_spilled(self, store: SqliteRunStore) -> None:
        """The run is over: its batches and rows keep it, so the spilled seconds go; the
        aggregator keeps what it holds (the live window) and reads no more from the store."""
        seconds = self.aggregator.seconds
        if isinstance(seconds, SpilledSeconds):
            seconds.detach()
        with contextlib.suppress(sqlite3.Error):
            store.seconds_spill(self.run_id)

    async def _execute(self, url: str, store: SqliteRunStore) -> LocalRunResult:
        self._store = store
        self.aggregator = RunAggregator(self.run_id, self.plan.expected_per_second,
                                        self._spilled_seconds())
        pool = self._pool = WorkerPool(
            self._context, self.plan.assignments(run_started_at=0.0),
            self.spec.model_dump_json(), url, self._stop, self._start_at, self.accept_batch,
            on_refused=self._credentials_refused, on_invalid=self._invalid.add,
            owner_urls=self._target.owner_urls,
        )
        pump = threading.Thread(target=pool.pump, daemon=True)
        pump.start()
        try:
            await self._wait_ready(pool)
        except BaseException:
            self._stop.set()
            pool.close(timeout_s=5)
            raise
        self.garbage.started()  # before the start time is set: not a second of the run taken
        started = time.time() + START_MARGIN_S
        self._start_at.value = started
        store.create_run(
            self.run_id, self.spec.name, iso(started), self.spec.model_dump(mode="json"),
            self.plan.model_dump(mode="json"),
        )
        self._faults.admin = self._target.fault_admin()
        self._degradation.target = self._target.service
        self._clock.started = started
        try:
            self._go_live(started, url, store, pool)
            await self._supervise(started, pool, store)
        except Exception as error:  # noqa: BLE001 - the run ends early, its outputs still written
            self._failure = failure_reason(error)
        finally:
            self._clock.ended = True
            self._stop.set()  # on a failure the workers stop now; after a full run they are done
            try:
                await self._target.settle()
                await self._degradation.settle()
                await self._faults.finish()
            except Exception as error:  # noqa: BLE001 - cleanup is side work too
                self._notes.add(f"cleaning up the target failed: {failure_reason(error)}")
            pool.close()
            pump.join(timeout=10)
        try:
            self._intake.drain(store, self.run_id, self.aggregator, self._row)
            self._degradation.track(None, self._health, self._closed)
            self._publish_ticks(None)
        except Exception as error:  # noqa: BLE001 - as above
            self._failure = self._failure or failure_reason(error)
        ended = time.time()
        received = await self._target.received(self.run_id)
        return self._finish(store, url, started, ended, received, pool)

    async def _wait_ready(self, pool: WorkerPool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pool.ready < pool.shards:
            if time.monotonic() > deadline or not pool.all_running():
                raise RuntimeError("worker processes did not start")
            await asyncio.sleep(0.02)

    def _row(self, second: int) -> dict[str, Any]:
        row = self.aggregator.second_row(second, self._faults.active(second))
        row["degradation"] = self._degradation.level_at(second)
        return row

    def _health(self, second: int) -> SecondHealth:
        stats = self.aggregator.seconds.get(second) or WindowStats()
        return health_of(stats, self._target.cpu_at(second))

    def _connect_errors(self, first: int, last: int) -> int:
        return sum(stats.errors["connect"]
                   for stats in self.aggregator.seconds.between(first, last + 1))

    async def _supervise(self, started: float, pool: WorkerPool, store: SqliteRunStore) -> None:
        display = ProgressDisplay(enabled=self.options.progress)
        shown = -1
        probe = None
        if self._live.probe is not None:
            # the level shown is the run's own (from its metrics), not what the target reports
            probe = asyncio.create_task(self._live.probe.run(lambda _level: None))
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TICK_S)
                    await asyncio.sleep(SETTLE_S)
                self._wake.clear()
                elapsed = time.time() - started
                pool.check(elapsed)
                self._target.watch(elapsed, self._target_restarted)
                self._faults.advance(elapsed)
                self._intake.drain(store, self.run_id, self.aggregator, self._row)
                closed = math.floor(elapsed) - 1
                fresh = closed > shown and closed >= 0
                if fresh:
                    shown = closed
                    self._target.sample(closed)
                self._degradation.track(elapsed, self._health, self._closed)
                self._publish_ticks(elapsed)
                if fresh:
                    self._show_progress(display, closed, elapsed)
                    self.garbage.second_closed(closed)
                if not pool.alive():
                    break
        finally:
            if probe is not None:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
            display.done()

    async def _target_restarted(self, back_s: float) -> None:
        """The reference service came back as a new process: watch it, and put back the faults
        still due and the level."""
        service = self._target.service
        if self._live.meter is not None and service is not None:
            self._live.meter = ProcessMeter(service.pid, self.worker_pids)
        await self._faults.reinject(back_s, attempt=len(self._target.outages))
        self._degradation.target_restarted()

    def _show_progress(self, display: ProgressDisplay, second: int, elapsed: float) -> None:
        if not (self.options.progress or self.options.on_second):
            return
        row = self._row(second)
        display.show(second, progress_line(row, elapsed, self.spec.duration, row["faults"]))
        if self.options.on_second:
            self.options.on_second(row)

    # ------------------------------------------------------------------------------ results

    def _worker_facts(self, pool: WorkerPool) -> tuple[list[str], list[str], bool]:
        """Failed worker ids, notes on them, and whether every shard ran to its end."""
        if self._aborted:
            return [], [], True
        finished = {w for w, state in self.aggregator.workers.items() if state.finished}
        notes = []
        unreported = 0
        if pool.deaths:
            account = pool.account(finished, self._intake.scheduled_by_worker,
                                   ArrivalSchedule(self.spec.profile()))
            failed, notes, complete = account.failed, account.notes, account.replaced_all
            unreported = account.unreported
            totals = self.aggregator.totals
            unanswered = totals.sent - totals.ok - totals.error_total - totals.timeouts
            if unanswered > 0:
                notes.append(f"{unanswered} requests sent by workers that died have no "
                             "reported outcome")
        else:
            failed = [w for w in pool.worker_ids if w not in finished]
            complete = not failed and pool.ended_cleanly()
        missing = self.plan.scheduled_total - self.aggregator.totals.scheduled - unreported
        if missing > 0:
            notes.append(f"{missing} planned arrivals were never scheduled (failed workers)")
        if self._intake.invalid:
            notes.append(f"{self._intake.invalid} metrics batches from workers were unreadable "
                         "and left out")
        return failed, notes, complete

    def _side_facts(self) -> list[str]:
        """Notes on side work that went wrong: faults, counts, probes, store, live feed."""
        notes = list(self._notes.items)
        probe = self._live.probe
        if probe is not None and probe.failures:
            notes.append(f"{probe.failures} of {probe.polls} health probes of the target went "
                         f"unanswered (last: {probe.last_error})")
        return notes + self._intake.notes() + self._live.failure_notes()

    def _finish(
        self, store: SqliteRunStore, url: str, started: float, ended: float,
        received: int | None, pool: WorkerPool,
    ) -> LocalRunResult:
        failed, notes, complete = self._worker_facts(pool)
        status = "aborted" if self._aborted else ("completed" if complete else "failed")
        received, target_notes = self._target.facts(received, self._connect_errors)
        if received is not None and pool.deaths and received > self.aggregator.totals.sent:
            notes.append(f"the target received {received - self.aggregator.totals.sent} more "
                         "requests than the workers reported sending: sent by workers that died")
        changes, degradation_notes = self._degradation.facts()
        if self._failure is not None:
            status = "failed"
            notes.insert(0, f"the run ended early: {self._failure}")
        if self.refused is not None:
            notes.insert(0, f"the run was aborted: {self.refused}")
        facts = RunFacts(
            run_id=self.run_id, target=url, started_at=iso(started), ended_at=iso(ended),
            status=status, target_received=received, workers_expected=len(pool.worker_ids),
            workers_failed=failed, fault_windows=self._faults.as_dicts(),
            extra_metrics={"memory_growth_pct": self._target.memory_growth_pct()},
            notes=notes + target_notes + degradation_notes + self._side_facts(),
            degradation_changes=changes, identity=self._identity(url),
            invalid_responses=self._invalid.report(),
        )
        summary = summarize_run(
            self.spec, self.plan, self.aggregator, facts, self._prices,
            CURRENCIES[self.spec.reporting_currency].units_per_usd,
        )
        summary.phases = phase_windows((p.name, p.duration) for p in self.spec.phases)
        if self.options.baseline is not None:
            summary.regression = judge_regressions(self.options.baseline, self.spec.regressions,
                                                   summary, self.aggregator.totals)
        last = max(self.aggregator.seconds, default=-1)
        series = [self._row(second) for second in range(last + 1)]
        try:
            store.save_seconds(self.run_id, series)
            store.finish_run(self.run_id, status, facts.ended_at, summary.to_json_dict())
        except sqlite3.Error as error:  # the files below still hold the whole run
            summary.notes.append(
                f"the run store could not record the run's end: {describe_error(error)}")
        out_dir = self.options.out_dir
        outputs = write_outputs(out_dir, summary.to_json_dict(), series) if out_dir else {}
        if self._aborted:
            code = EXIT_ABORTED
        elif self._failure is not None:
            code = EXIT_FAILED
        else:
            regressed = summary.regression is not None and summary.regression.regressed
            code = EXIT_PASSED if summary.passed and not regressed else EXIT_FAILED
        return LocalRunResult(self.run_id, summary, series, outputs, code)

    # ---------------------------------------------------------------- live dashboard messages

    def _identity(self, url: str | None = None) -> TargetIdentity:
        """What every page and the summary name as the system under test."""
        given = self.options.target_url
        section = self.spec.target
        return identify_target(given or url, section=section,
                               reference=given is None and section is None)

    def _go_live(self, started: float, url: str, store: SqliteRunStore, pool: WorkerPool) -> None:
        """run_started, then a fresh snapshot so every viewer switches to this run."""
        service = self._target.service
        if self._live.watched:
            self._live.meter = ProcessMeter(service.pid if service else None, pool.pids)
            self._live.probe = TargetProbe(service.admin) if service else None
        feed = self._live.feed
        feed.run = feed.run.model_copy(update={"started_at": iso(started), "target": url,
                                               "system_under_test": self._identity(url)})
        self._live.announce("run_started", 0.0, status="running", scenario=self.spec.name)
        self._live.send(self.snapshot(store.list_runs(RECENT_RUNS)).to_json())

    def _reported(self, second: int) -> bool:
        """Every live worker that sends during this second has reported it (or finished)."""
        for segment in self._pool.segments() if self._pool else []:
            if segment.dead or not segment.start_s <= second < segment.end_s:
                continue
            state = self.aggregator.workers.get(segment.worker_id)
            if state is None or not (state.finished or state.last_window >= second):
                return False
        return True

    def _closed(self, second: int, elapsed: float) -> bool:
        """The second is over and its batches are in (or have had LIVE_GRACE_S to come)."""
        if elapsed < second + 1:
            return False
        return elapsed >= second + 1 + LIVE_GRACE_S or self._reported(second)

    def _publish_ticks(self, elapsed: float | None) -> None:
        self._live.publish_ticks(self.aggregator, elapsed, math.ceil(self.spec.duration),
                                 self._closed, self._faults.active)
