"""The local runtime: one run on this machine, from plan to summary, with worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stresslab.generation.catalog import CURRENCIES
from stresslab.generation.plan import ArrivalSchedule, Plan, plan_run
from stresslab.judgement.business import load_price_table
from stresslab.judgement.degradation import DegradationTracker, Level, LevelChange, health_of
from stresslab.judgement.summary import RunFacts, RunSummary, summarize_run
from stresslab.local.faults import FaultInjectionFailed, ReferenceTargetFaults, describe_error
from stresslab.local.infra import ProcessMeter, TargetProbe
from stresslab.local.progress import ProgressDisplay, progress_line
from stresslab.local.reference_process import ReferenceService, ReferenceServiceFailed
from stresslab.local.store import SqliteRunStore
from stresslab.local.workers import WorkerPool
from stresslab.measurement.aggregate import RunAggregator, aggregator_from_batches
from stresslab.measurement.live import EventName, LiveFeed, Snapshot, describe_run
from stresslab.measurement.metrics import MetricsBatch, WindowStats
from stresslab.outputs.report import write_outputs
from stresslab.ports import Broadcaster
from stresslab.scenario.spec import FaultSpec, ScenarioSpec
from stresslab.targets.http import check_reachable

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 3
START_MARGIN_S = 0.5
TICK_S = 0.25
READY_TIMEOUT_S = 60.0
SETTLE_S = 0.02  # after a batch, let the other workers' batches of that second arrive too
LIVE_GRACE_S = 0.5  # how long a live tick waits for a late worker's batch of that second
RECENT_RUNS = 20
MAX_TARGET_RESTARTS = 3
CLEAR_WARN_S = 4.0  # a fault not cleared this long after its end is told to the viewers
END_CLEAR_S = 3.0  # at the end, how long to try clearing faults before leaving them to expire
SIDE_WORK_WAIT_S = 8.0  # at the end, how long side work still under way may take


def failure_reason(error: BaseException) -> str:
    """Why a run failed, in one line that is never empty."""
    return describe_error(error)


def new_run_id(scenario: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{scenario}-{stamp}-{secrets.token_hex(2)}"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


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


class FaultsUnavailable(RuntimeError):
    """A fault cannot be injected now: no fault API, or the run is not under way."""


@dataclass
class _FaultWindow:
    spec: FaultSpec
    fault_id: str | None = None
    started_s: float | None = None
    ended_s: float | None = None
    status: str = "pending"

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.spec.type, "label": self.spec.label, "target": self.spec.target,
            "intensity": self.spec.intensity, "planned_start_s": self.spec.at,
            "planned_end_s": self.spec.end, "start_s": self.started_s, "end_s": self.ended_s,
            "status": self.status,
        }


@dataclass
class _Outage:
    """The reference service died during the run; back_s is None if it could not be restarted."""

    died_s: float
    exitcode: int | None
    back_s: float | None = None
    error: str | None = None


class LocalRun:
    """Runs a ScenarioSpec against a target on this machine and writes its results."""

    def __init__(self, options: LocalRunOptions) -> None:
        self.options = options
        self.spec = options.spec
        self.run_id = new_run_id(self.spec.name)
        self.plan: Plan = plan_run(self.spec, self.run_id)
        self.aggregator = RunAggregator(self.run_id, self.plan.expected_per_second)
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._start_at = self._context.Value("d", 0.0)
        self._aborted = False
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()
        self._pool: WorkerPool | None = None
        self._store: SqliteRunStore | None = None
        self._worker_scheduled: Counter[str] = Counter()
        self._faults = [_FaultWindow(fault) for fault in self.plan.faults]
        self._rss: list[float] = []
        self._prices = load_price_table()
        self._live = LiveFeed(
            self.spec,
            describe_run(self.spec, self.run_id, iso(time.time()), "starting",
                         options.target_url or "local reference service",
                         self.plan.expected_per_second),
            self._prices, CURRENCIES[self.spec.reporting_currency].units_per_usd,
        )
        self._live_next = 0
        self._started: float | None = None
        self._ended = False
        self._injector: ReferenceTargetFaults | None = None
        self._meter: ProcessMeter | None = None
        self._probe: TargetProbe | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reference: ReferenceService | None = None
        self._outages: list[_Outage] = []
        self._reviving: asyncio.Task[None] | None = None
        self._tracker = DegradationTracker(self.spec.degradation)
        self._levels: dict[int, Level] = {}
        self._cpu: dict[int, float | None] = {}
        self._degradation_next = 0
        self._applied: Level = "NONE"
        self._level_lock = asyncio.Lock()
        self._level_tasks: set[asyncio.Task[None]] = set()
        self._apply_failures = 0
        self._apply_error = ""
        self._invalid_batches = 0
        self._side_work: set[asyncio.Task[None]] = set()
        self._side_notes: list[str] = []
        self._failure: str | None = None
        self._publish_failures = 0
        self._store_failures = 0

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
        return self._live.snapshot(runs)

    def restart_aggregator(self) -> None:
        """Replace the aggregator by one rebuilt from the store, as after a restart mid-run.

        Every batch is stored before it is aggregated, so the store has all the old one had;
        batches still on their way are added when they come, and repeats are ignored.
        """
        if self._store is None:
            raise RuntimeError("the run has not started")
        batches = list(self._store.batches(self.run_id))
        self.aggregator = aggregator_from_batches(
            self.run_id, self.plan.expected_per_second, batches
        )
        self._worker_scheduled = _scheduled_by_worker(batches)

    async def inject_now(self, fault: FaultSpec) -> dict[str, Any]:
        """Inject a fault at this moment (its `at` is ignored); it joins the run's fault windows."""
        if self._started is None or self._ended:
            raise FaultsUnavailable("the run is not under way")
        if self._injector is None:
            raise FaultsUnavailable("the target has no fault admin API")
        elapsed = max(time.time() - self._started, 0.0)
        window = _FaultWindow(fault.model_copy(update={"at": round(elapsed, 3)}),
                              status="injecting")
        self._faults.append(window)
        await self._start_fault(self._injector, window, self._fault_key(window))
        if window.status != "injected":
            raise FaultInjectionFailed(window.status)
        return window.as_dict()

    async def execute(self) -> LocalRunResult:
        self._loop = asyncio.get_running_loop()
        try:
            result = await self._execute_with_target()
        except BaseException as error:
            self._ended = True
            self._announce("run_stopped", self._elapsed(), status="failed", passed=False,
                           error=failure_reason(error))
            raise
        summary = result.run_summary
        # Announced once everything is cleaned up, so a viewer may start the next run at once.
        self._announce(
            "run_stopped", self._elapsed(), status=summary.status, passed=summary.passed,
            failed_criteria=[f"{c.expr} [{c.window}]" for c in summary.failed_criteria],
        )
        return result

    async def _execute_with_target(self) -> LocalRunResult:
        reference = self.options.reference
        owned = reference is None and self.options.target_url is None
        try:
            url = self.options.target_url
            if reference is not None:
                url = reference.score_url
            elif url is None:
                reference = await ReferenceService.start()
                url = reference.score_url
            store = SqliteRunStore(self.options.db_path)
            try:
                await check_reachable(url)
                return await self._execute(url, reference, store)
            finally:
                store.close()
        finally:
            if reference is not None and owned:
                await reference.stop()

    async def _execute(
        self, url: str, reference: ReferenceService | None, store: SqliteRunStore
    ) -> LocalRunResult:
        self._store, self._reference = store, reference
        pool = self._pool = WorkerPool(
            self._context, self.plan.assignments(run_started_at=0.0),
            self.spec.model_dump_json(), url, self._stop, self._start_at, self.accept_batch,
        )
        pump = threading.Thread(target=pool.pump, daemon=True)
        pump.start()
        try:
            await self._wait_ready(pool)
        except BaseException:
            self._stop.set()
            pool.close(timeout_s=5)
            raise
        started = time.time() + START_MARGIN_S
        self._start_at.value = started
        store.create_run(
            self.run_id, self.spec.name, iso(started), self.spec.model_dump(mode="json"),
            self.plan.model_dump(mode="json"),
        )
        faults = reference.faults() if reference else None
        self._injector = faults
        self._started = started
        try:
            self._go_live(started, url, store, pool, reference)
            await self._supervise(started, pool, store, faults, reference)
        except Exception as error:  # noqa: BLE001 - the run ends early, its outputs still written
            self._failure = failure_reason(error)
        finally:
            self._ended = True
            self._stop.set()  # on a failure the workers stop now; after a full run they are done
            try:
                await self._settle_target(reference)
                await self._clear_faults(faults)
            except Exception as error:  # noqa: BLE001 - cleanup is side work too
                self._side_notes.append(f"cleaning up the target failed: {failure_reason(error)}")
            pool.close()
            pump.join(timeout=10)
        try:
            self._drain_pending(store)
            self._track_degradation(None)
            self._publish_ticks(None)
        except Exception as error:  # noqa: BLE001 - as above
            self._failure = self._failure or failure_reason(error)
        ended = time.time()
        received = await self._target_count(reference)
        return self._finish(store, url, started, ended, received, pool)

    async def _target_count(self, reference: ReferenceService | None) -> int | None:
        if reference is None or reference.exited:
            return None
        try:
            return await reference.received(self.run_id)
        except FaultInjectionFailed as error:
            self._side_notes.append(f"the target's own count could not be read: {error}")
            return None

    async def _wait_ready(self, pool: WorkerPool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pool.ready < pool.shards:
            if time.monotonic() > deadline or not pool.all_running():
                raise RuntimeError("worker processes did not start")
            await asyncio.sleep(0.02)

    def accept_batch(self, text: str) -> None:
        """A batch's JSON to aggregate (from the pump thread; or again, as a redelivery)."""
        with self._pending_lock:
            self._pending.append(text)
        self._wake_soon()

    def _wake_soon(self) -> None:
        """From the pump thread: let the supervisor handle a batch now rather than at its tick."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._wake.set)

    def _drain_pending(self, store: SqliteRunStore) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        batches, readable = [], []
        for text in pending:
            try:
                batches.append(MetricsBatch.model_validate_json(text))
                readable.append(text)
            except ValidationError:  # counted and noted; one bad message must not end the run
                self._invalid_batches += 1
        if batches:
            # Stored before aggregated, so a rebuilt aggregator has all; a store that fails
            # (locked, full) keeps them waiting for the next tick.
            try:
                store.add_batches(batches)
            except sqlite3.Error as error:
                self._store_trouble(error)
                with self._pending_lock:
                    self._pending[:0] = readable
                return
            for batch in batches:
                if self.aggregator.add(batch):
                    self._worker_scheduled[batch.worker_id] += batch.scheduled
        dirty = self.aggregator.take_dirty()
        if dirty:
            try:
                store.save_seconds(self.run_id, [self._row(second) for second in dirty])
            except sqlite3.Error as error:  # every second is saved again when the run ends
                self._store_trouble(error)

    def _store_trouble(self, error: sqlite3.Error) -> None:
        self._store_failures += 1
        if self._store_failures == 1:
            self._trouble(f"the run store could not be written ({describe_error(error)}); "
                          "retried at every tick")

    def _active_faults(self, second: int) -> list[str]:
        return [
            w.spec.key for w in self._faults
            if w.started_s is not None and w.started_s <= second + 1
            and (w.ended_s is None or w.ended_s > second)
        ]

    def _row(self, second: int) -> dict[str, Any]:
        row = self.aggregator.second_row(second, self._active_faults(second))
        row["degradation"] = self._levels.get(second)
        return row

    async def _supervise(
        self, started: float, pool: WorkerPool, store: SqliteRunStore,
        faults: ReferenceTargetFaults | None, reference: ReferenceService | None,
    ) -> None:
        display = ProgressDisplay(enabled=self.options.progress)
        shown = -1
        probe = None
        if self._probe is not None:
            # the level shown is the run's own (from its metrics), not what the target reports
            probe = asyncio.create_task(self._probe.run(lambda _level: None))
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TICK_S)
                    await asyncio.sleep(SETTLE_S)
                self._wake.clear()
                elapsed = time.time() - started
                pool.check(elapsed)
                self._watch_target(reference, faults, elapsed)
                self._apply_faults(faults, elapsed)
                self._drain_pending(store)
                closed = math.floor(elapsed) - 1
                fresh = closed > shown and closed >= 0
                if fresh:
                    shown = closed
                    self._sample_target(reference, closed)
                self._track_degradation(elapsed)
                self._publish_ticks(elapsed)
                if fresh:
                    self._show_progress(display, closed, elapsed)
                if not pool.alive():
                    break
        finally:
            if probe is not None:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
            display.done()

    def _show_progress(self, display: ProgressDisplay, second: int, elapsed: float) -> None:
        if not (self.options.progress or self.options.on_second):
            return
        row = self._row(second)
        display.show(second, progress_line(row, elapsed, self.spec.duration, row["faults"]))
        if self.options.on_second:
            self.options.on_second(row)

    def _sample_target(self, reference: ReferenceService | None, second: int) -> None:
        """Once a second: the target's memory (for growth) and CPU (for degradation)."""
        if reference is None or reference.exited:
            return
        self._rss.append(reference.rss_mb())
        self._cpu[second] = reference.cpu_pct()

    # ------------------------------------------------------------------------------- faults

    def _fault_key(self, window: _FaultWindow, attempt: str = "") -> str:
        """The idempotency key of one injection: the same on every retry of it."""
        return f"{self.run_id}/{self._faults.index(window)}{attempt}"

    def _side(self, work: Any) -> None:
        """Side work in the background: the supervisor never waits for the target's answer."""
        task = asyncio.create_task(work)
        self._side_work.add(task)
        task.add_done_callback(self._side_work.discard)

    def _trouble(self, message: str) -> None:
        """Side work that did not go as planned: a note in the summary and an event live."""
        self._side_notes.append(message)
        self._announce("run_note", self._elapsed(), message=message)

    def _apply_faults(self, injector: ReferenceTargetFaults | None, elapsed: float) -> None:
        for window in list(self._faults):
            if window.status == "pending" and elapsed >= window.spec.at:
                if injector is None:
                    window.status = "skipped: the target has no fault admin API"
                    continue
                window.status = "injecting"
                self._side(self._start_fault(injector, window, self._fault_key(window)))
            elif window.status == "injected" and elapsed >= window.spec.end:
                window.status = "clearing"
                self._side(self._clear_one(injector, window))

    async def _start_fault(
        self, injector: ReferenceTargetFaults, window: _FaultWindow, key: str
    ) -> None:
        window.status = "injecting"
        try:
            window.fault_id = await injector.inject(window.spec, key)
        except FaultInjectionFailed as error:
            window.status = f"failed: {error}"
            self._trouble(f"fault {window.spec.key} could not be injected: {error}")
            return
        window.started_s, window.status = round(self._elapsed(), 3), "injected"
        self._announce("fault_injected", window.started_s, key=window.spec.key,
                       **window.as_dict())

    async def _clear_one(
        self, injector: ReferenceTargetFaults | None, window: _FaultWindow,
        patience_s: float | None = None,
    ) -> None:
        """Clear a fault, retrying while it is still in force; every fault also ends on the
        service by its own duration, so one that cannot be cleared is left to expire."""
        window.status = "clearing"
        began = self._elapsed()
        started = window.started_s if window.started_s is not None else began
        expires_s = started + window.spec.duration
        if injector is not None and window.fault_id is not None:
            told = False
            while True:
                waited = self._elapsed() - began
                budget = CLEAR_WARN_S if patience_s is None else patience_s - waited
                try:
                    await injector.clear(window.fault_id, deadline_s=max(budget, 0.5))
                    break
                except FaultInjectionFailed as error:
                    waited = self._elapsed() - began
                    if not told:
                        told = True
                        self._trouble(f"fault {window.spec.key} could not be cleared for "
                                      f"{waited:.0f} s: {error}")
                    now = self._elapsed()
                    if now >= expires_s + 1 or (patience_s is not None and waited >= patience_s):
                        window.ended_s = round(min(max(expires_s, began), now), 3)
                        window.status = "expired: it could not be cleared, it ended by its duration"
                        self._announce("fault_cleared", window.ended_s, key=window.spec.key,
                                       **window.as_dict())
                        return
        window.ended_s, window.status = round(self._elapsed(), 3), "cleared"
        self._announce("fault_cleared", window.ended_s, key=window.spec.key, **window.as_dict())

    async def _clear_faults(self, injector: ReferenceTargetFaults | None) -> None:
        """At the end: side work finishes (or is given up), every fault is cleared or left to
        expire by its duration, and the target is asked to clear whatever remains."""
        if self._side_work:
            _, late = await asyncio.wait(set(self._side_work), timeout=SIDE_WORK_WAIT_S)
            for task in late:
                task.cancel()
            if late:
                self._side_notes.append(f"{len(late)} calls to the target's admin API were "
                                        f"still unanswered {SIDE_WORK_WAIT_S:g} s after the "
                                        "run and were given up")
        for window in self._faults:
            if window.status in ("injected", "clearing"):
                await self._clear_one(injector, window, patience_s=END_CLEAR_S)
            elif window.status == "injecting":
                window.status = "failed: the run ended before the target answered"
        if injector is not None:
            try:
                await injector.clear_all(deadline_s=END_CLEAR_S)
            except FaultInjectionFailed as error:
                self._side_notes.append("the target's faults could not be cleared after the "
                                        f"run (each ends by its own duration): {error}")

    async def _reinject_faults(
        self, injector: ReferenceTargetFaults | None, elapsed: float
    ) -> None:
        """A restarted target starts clean: faults still due go back in for what is left."""
        if injector is None:
            return
        for window in self._faults:
            remaining = window.spec.end - elapsed
            if window.status != "injected" or remaining <= 0:
                continue
            try:
                window.fault_id = await injector.inject(
                    window.spec, self._fault_key(window, f"/r{len(self._outages)}"),
                    duration_s=remaining)
            except FaultInjectionFailed as error:
                window.ended_s, window.status = round(elapsed, 3), f"lost with the target: {error}"

    # ------------------------------------------------------------------ the reference service

    def _watch_target(
        self, reference: ReferenceService | None, faults: ReferenceTargetFaults | None,
        elapsed: float,
    ) -> None:
        """A reference service that has exited mid-run is started again (a few times at most)."""
        if reference is None or not reference.exited or self._ended:
            return
        if self._reviving is not None and not self._reviving.done():
            return
        if len(self._outages) >= MAX_TARGET_RESTARTS:
            return
        self._reviving = asyncio.create_task(self._revive_target(reference, faults, elapsed))

    async def _revive_target(
        self, reference: ReferenceService, injector: ReferenceTargetFaults | None,
        noticed_s: float,
    ) -> None:
        outage = _Outage(died_s=round(noticed_s, 3), exitcode=reference.returncode)
        self._outages.append(outage)
        try:
            await reference.restart()
        except (ReferenceServiceFailed, OSError) as error:
            outage.error = str(error) or type(error).__name__
            return
        back = self._elapsed()
        outage.back_s = round(back, 3)
        self._rss = []  # memory growth means something within one process only
        if self._meter is not None:
            self._meter = ProcessMeter(reference.pid, self.worker_pids)
        await self._reinject_faults(injector, back)
        self._applied = "NONE"
        self._request_level()

    async def _settle_target(self, reference: ReferenceService | None) -> None:
        """At the end: a restart under way finishes, and the target goes back to NONE."""
        if self._reviving is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reviving
        if self._level_tasks:
            await asyncio.gather(*self._level_tasks, return_exceptions=True)
        if reference is not None and not reference.exited and self._applied != "NONE":
            try:
                await reference.set_degradation("NONE")
                self._applied = "NONE"
            except FaultInjectionFailed as error:
                self._side_notes.append(f"the target could not be set back to degradation "
                                        f"level NONE after the run: {error}")

    # ------------------------------------------------------------------------- degradation

    def _track_degradation(self, elapsed: float | None) -> None:
        """Feed each closed second of the plan to the tracker; elapsed None: the run is over."""
        planned = math.ceil(self.spec.duration)
        while self._degradation_next < planned:
            second = self._degradation_next
            if elapsed is not None and not self._closed(second, elapsed):
                return
            stats = self.aggregator.seconds.get(second) or WindowStats()
            seen = len(self._tracker.changes)
            self._levels[second] = self._tracker.observe(
                second, health_of(stats, self._cpu.get(second)))
            self._degradation_next += 1
            for change in self._tracker.changes[seen:]:
                self._level_changed(change)

    def _level_changed(self, change: LevelChange) -> None:
        event = self._live.set_degradation(
            change.level, change.at_s, reason=change.reason, applied=self._applies_levels())
        if event is not None:
            self._send(event.to_json())
        if not self._ended:
            self._request_level()

    def _applies_levels(self) -> bool:
        return self.spec.degradation.apply and self._reference is not None

    def _request_level(self) -> None:
        """Tell the target the current level, in the background and in order."""
        if not self._applies_levels() or self._reference is None:
            return
        task = asyncio.create_task(self._push_level(self._reference))
        self._level_tasks.add(task)
        task.add_done_callback(self._level_tasks.discard)

    async def _push_level(self, reference: ReferenceService) -> None:
        async with self._level_lock:  # each push sends the level as it is by then
            level: Level = "NONE" if self._ended else self._tracker.level
            if level == self._applied or reference.exited:
                return
            try:
                await reference.set_degradation(level)
                self._applied = level
            except FaultInjectionFailed as error:
                self._apply_failures += 1
                self._apply_error = str(error)
                if self._apply_failures == 1:  # the summary counts them all
                    self._announce("run_note", self._elapsed(), message=(
                        f"degradation level {level} could not be sent to the target: {error}"))

    # ------------------------------------------------------------------------------ results

    def _memory_growth_pct(self) -> float | None:
        samples = self._rss
        warm = max(5, len(samples) // 10)
        if len(samples) <= warm + 1 or samples[warm] <= 0:
            return None
        return (samples[-1] - samples[warm]) / samples[warm] * 100

    def _worker_facts(self, pool: WorkerPool) -> tuple[list[str], list[str], bool]:
        """Failed worker ids, notes on them, and whether every shard ran to its end."""
        if self._aborted:
            return [], [], True
        finished = {w for w, state in self.aggregator.workers.items() if state.finished}
        notes = []
        unreported = 0
        if pool.deaths:
            account = pool.account(finished, self._worker_scheduled,
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
        if self._invalid_batches:
            notes.append(f"{self._invalid_batches} metrics batches from workers were unreadable "
                         "and left out")
        return failed, notes, complete

    def _target_facts(self, received: int | None) -> tuple[int | None, list[str]]:
        """The target's own count, unless a restart lost part of it; notes on each outage.

        A killed service takes its count with it, and polling it would only give a lower
        bound, so after an outage target_received is left out (null) rather than guessed.
        """
        notes = [self._outage_note(outage) for outage in self._outages]
        if not self._outages:
            return received, notes
        counted = "" if received is None else f"; the restarted service counted {received}"
        notes.append("target_received is not known: the reference service's own count died "
                     f"with it{counted}")
        return None, notes

    def _outage_note(self, outage: _Outage) -> str:
        code = outage.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        note = f"the reference service died ({how}), noticed at {outage.died_s:g} s"
        if outage.back_s is None:
            return note + f", and could not be restarted: {outage.error}"
        first = max(math.floor(outage.died_s) - 1, 0)
        last = math.floor(outage.back_s) + 1
        refused = sum(self.aggregator.seconds[s].errors["connect"]
                      for s in range(first, last + 1) if s in self.aggregator.seconds)
        return (note + f"; restarted on the same port at {outage.back_s:g} s; {refused} "
                f"connection errors in seconds {first}-{last}")

    def _side_facts(self) -> list[str]:
        """Notes on side work that went wrong: faults, counts, probes, store, live feed."""
        notes = list(self._side_notes)
        probe = self._probe
        if probe is not None and probe.failures:
            notes.append(f"{probe.failures} of {probe.polls} health probes of the target went "
                         f"unanswered (last: {probe.last_error})")
        if self._store_failures:
            notes.append(f"{self._store_failures} writes to the run store failed and were "
                         "retried")
        if self._publish_failures:
            notes.append(f"{self._publish_failures} live messages could not be published")
        return notes

    def _degradation_facts(self) -> tuple[list[dict[str, Any]], list[str]]:
        applied = self._applies_levels()
        changes = [{**c.as_dict(), "applied": applied} for c in self._tracker.changes]
        notes = []
        if self._apply_failures:
            notes.append(f"{self._apply_failures} degradation level change(s) could not be "
                         f"sent to the target (last: {self._apply_error})")
        return changes, notes

    def _finish(
        self, store: SqliteRunStore, url: str, started: float, ended: float,
        received: int | None, pool: WorkerPool,
    ) -> LocalRunResult:
        failed, notes, complete = self._worker_facts(pool)
        status = "aborted" if self._aborted else ("completed" if complete else "failed")
        received, target_notes = self._target_facts(received)
        if received is not None and pool.deaths and received > self.aggregator.totals.sent:
            notes.append(f"the target received {received - self.aggregator.totals.sent} more "
                         "requests than the workers reported sending: sent by workers that died")
        changes, degradation_notes = self._degradation_facts()
        if self._failure is not None:
            status = "failed"
            notes.insert(0, f"the run ended early: {self._failure}")
        facts = RunFacts(
            run_id=self.run_id, target=url, started_at=iso(started), ended_at=iso(ended),
            status=status, target_received=received, workers_expected=len(pool.worker_ids),
            workers_failed=failed, fault_windows=[w.as_dict() for w in self._faults],
            extra_metrics={"memory_growth_pct": self._memory_growth_pct()},
            notes=notes + target_notes + degradation_notes + self._side_facts(),
            degradation_changes=changes,
        )
        summary = summarize_run(
            self.spec, self.plan, self.aggregator, facts, self._prices,
            CURRENCIES[self.spec.reporting_currency].units_per_usd,
        )
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
            code = EXIT_PASSED if summary.passed else EXIT_FAILED
        return LocalRunResult(self.run_id, summary, series, outputs, code)

    # ---------------------------------------------------------------- live dashboard messages

    def _elapsed(self) -> float:
        return 0.0 if self._started is None else max(time.time() - self._started, 0.0)

    def _send(self, message: str) -> None:
        if self.options.broadcaster is None:
            return
        try:
            self.options.broadcaster.publish(message)
        except Exception:  # noqa: BLE001 - viewers miss a message; the run goes on
            self._publish_failures += 1

    def _announce(self, name: EventName, at_s: float, **detail: Any) -> None:
        self._send(self._live.event(name, max(at_s, 0.0), **detail).to_json())

    def _go_live(
        self, started: float, url: str, store: SqliteRunStore, pool: WorkerPool,
        reference: ReferenceService | None,
    ) -> None:
        """run_started, then a fresh snapshot so every viewer switches to this run."""
        if self.options.broadcaster is not None:
            self._meter = ProcessMeter(reference.pid if reference else None, pool.pids)
            self._probe = TargetProbe(reference.admin) if reference else None
        self._live.run = self._live.run.model_copy(update={"started_at": iso(started),
                                                           "target": url})
        self._announce("run_started", 0.0, status="running", scenario=self.spec.name)
        self._send(self.snapshot(store.list_runs(RECENT_RUNS)).to_json())

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
        """Ticks for the seconds that have closed; elapsed None: every second seen (run over)."""
        if self.options.broadcaster is None:
            return
        planned = math.ceil(self.spec.duration)
        last = max(self.aggregator.seconds, default=-1)
        while True:
            second = self._live_next
            if elapsed is None:
                if second > last:
                    return
            elif second >= planned or not self._closed(second, elapsed):
                return  # seconds past the plan carry the drain: they are sent once the run ends
            self._publish_tick(second)
            self._live_next += 1

    def _publish_tick(self, second: int) -> None:
        agents = self._probe.agents if self._probe else None
        tick, events = self._live.tick(
            self.aggregator, second, self._active_faults(second),
            infra=self._meter.sample() if self._meter else None, agent_load=agents,
        )
        self._send(tick.to_json())
        for event in events:
            self._send(event.to_json())


def _scheduled_by_worker(batches: Iterable[MetricsBatch]) -> Counter[str]:
    scheduled: Counter[str] = Counter()
    seen: set[tuple[str, int]] = set()
    for batch in batches:
        if batch.key not in seen:
            seen.add(batch.key)
            scheduled[batch.worker_id] += batch.scheduled
    return scheduled
