"""The local runtime: one run on this machine, from plan to summary, with worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from stresslab.aggregate import RunAggregator
from stresslab.business import load_price_table
from stresslab.live import EventName, LiveFeed, Snapshot, describe_run
from stresslab.local.faults import FaultInjectionFailed, ReferenceTargetFaults
from stresslab.local.infra import ProcessMeter, TargetProbe
from stresslab.local.progress import ProgressDisplay, progress_line
from stresslab.local.reference import ReferenceService
from stresslab.local.store import SqliteRunStore
from stresslab.local.worker_process import worker_main
from stresslab.metrics import MetricsBatch
from stresslab.plan import Plan, plan_run
from stresslab.ports import Broadcaster
from stresslab.reference_data import CURRENCIES
from stresslab.report import write_outputs
from stresslab.spec import FaultSpec, ScenarioSpec
from stresslab.summary import RunFacts, build_summary
from stresslab.targets.http import check_reachable

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 3
START_MARGIN_S = 0.5
TICK_S = 0.25
READY_TIMEOUT_S = 60.0
SETTLE_S = 0.02  # after a batch, let the other workers' batches of that second arrive too
LIVE_GRACE_S = 0.5  # how long a live tick waits for a late worker's batch of that second
RECENT_RUNS = 20


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
    summary: dict[str, Any]
    series: list[dict[str, Any]]
    outputs: dict[str, Path]
    exit_code: int


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
class _Workers:
    processes: list[multiprocessing.process.BaseProcess] = field(default_factory=list)
    ids: list[list[str]] = field(default_factory=list)


class LocalRun:
    """Runs a ScenarioSpec against a target on this machine and writes its results."""

    def __init__(self, options: LocalRunOptions) -> None:
        self.options = options
        self.spec = options.spec
        self.run_id = new_run_id(self.spec.name)
        self.plan: Plan = plan_run(self.spec, self.run_id)
        self.aggregator = RunAggregator(self.run_id, self.plan.expected_per_second)
        self._context = multiprocessing.get_context("spawn")
        self._queue: Any = self._context.Queue()
        self._stop = self._context.Event()
        self._start_at = self._context.Value("d", 0.0)
        self._aborted = False
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()
        self._ready = 0
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
        self._shard_seconds = [
            (a.worker_id, a.start_s, a.end_s) for a in self.plan.assignments(run_started_at=0.0)
        ]
        self._started: float | None = None
        self._ended = False
        self._injector: ReferenceTargetFaults | None = None
        self._meter: ProcessMeter | None = None
        self._probe: TargetProbe | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def request_stop(self) -> None:
        """Abort: workers stop scheduling, drain what is in flight and report."""
        self._aborted = True
        self._stop.set()

    def snapshot(self, runs: list[dict[str, Any]] | None = None) -> Snapshot:
        """The run as a dashboard sees it on connect: run info, ticks and events so far."""
        return self._live.snapshot(runs)

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
        await self._start_fault(self._injector, window, elapsed)
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
                           error=str(error) or type(error).__name__)
            raise
        summary = result.summary
        # Announced once everything is cleaned up, so a viewer may start the next run at once.
        self._announce(
            "run_stopped", self._elapsed(), status=summary["status"], passed=summary["passed"],
            failed_criteria=[f"{c['expr']} [{c['window']}]" for c in summary["criteria"]
                             if not c["passed"]],
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
        workers = self._spawn_workers(url)
        pump = threading.Thread(target=self._pump, args=(workers,), daemon=True)
        pump.start()
        await self._wait_ready(workers)
        started = time.time() + START_MARGIN_S
        self._start_at.value = started
        store.create_run(
            self.run_id, self.spec.name, iso(started), self.spec.model_dump(mode="json"),
            self.plan.model_dump(mode="json"),
        )
        faults = ReferenceTargetFaults(reference.base_url) if reference else None
        self._injector = faults
        self._started = started
        self._go_live(started, url, store, workers, reference)
        try:
            await self._supervise(started, workers, store, faults, reference)
        finally:
            self._ended = True
            await self._clear_faults(faults, time.time() - started)
            self._stop.set()
            for process in workers.processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            pump.join(timeout=10)
        self._drain_pending(store)
        self._publish_ticks(None)
        ended = time.time()
        received = await reference.received(self.run_id) if reference else None
        return self._finish(store, url, started, ended, received, workers)

    def _spawn_workers(self, url: str) -> _Workers:
        workers = _Workers()
        assignments = self.plan.assignments(run_started_at=0.0)
        spec_json = self.spec.model_dump_json()
        for shard in range(self.plan.shards):
            mine = [a for a in assignments if a.shard == shard]
            process = self._context.Process(
                target=worker_main,
                args=([a.model_dump_json() for a in mine], spec_json, url, self._queue,
                      self._stop, self._start_at),
                name=f"stresslab-worker-{shard}",
                daemon=True,
            )
            process.start()
            workers.processes.append(process)
            workers.ids.append([a.worker_id for a in mine])
        return workers

    async def _wait_ready(self, workers: _Workers) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self._ready < len(workers.processes):
            if time.monotonic() > deadline or not any(p.is_alive() for p in workers.processes):
                self._stop.set()
                raise RuntimeError("worker processes did not start")
            await asyncio.sleep(0.02)

    def _pump(self, workers: _Workers) -> None:
        """Move batches from the worker queue to the event loop's side, until all have exited."""
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if not any(p.is_alive() for p in workers.processes):
                    return
                continue
            if item == "ready":
                self._ready += 1
                continue
            with self._pending_lock:
                self._pending.append(item)
            self._wake_soon()

    def _wake_soon(self) -> None:
        """From the pump thread: let the supervisor handle a batch now rather than at its tick."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._wake.set)

    def _drain_pending(self, store: SqliteRunStore) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        batches = [MetricsBatch.model_validate_json(text) for text in pending]
        if batches:
            store.add_batches(batches)
            self.aggregator.add_all(batches)
        dirty = self.aggregator.take_dirty()
        if dirty:
            store.save_seconds(self.run_id, [self._row(second) for second in dirty])

    def _active_faults(self, second: int) -> list[str]:
        return [
            w.spec.key for w in self._faults
            if w.started_s is not None and w.started_s <= second + 1
            and (w.ended_s is None or w.ended_s > second)
        ]

    def _row(self, second: int) -> dict[str, Any]:
        return self.aggregator.second_row(second, self._active_faults(second))

    async def _supervise(
        self, started: float, workers: _Workers, store: SqliteRunStore,
        faults: ReferenceTargetFaults | None, reference: ReferenceService | None,
    ) -> None:
        display = ProgressDisplay(enabled=self.options.progress)
        shown = -1
        duration = self.spec.duration
        probe = None
        if self._probe is not None:
            probe = asyncio.create_task(self._probe.run(self._degradation_changed))
        try:
            while any(p.is_alive() for p in workers.processes):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TICK_S)
                    await asyncio.sleep(SETTLE_S)
                self._wake.clear()
                elapsed = time.time() - started
                await self._apply_faults(faults, elapsed)
                self._drain_pending(store)
                self._publish_ticks(elapsed)
                closed = math.floor(elapsed) - 1
                if closed > shown and closed >= 0:
                    shown = closed
                    if reference is not None:
                        self._rss.append(reference.rss_mb())
                    if self.options.progress or self.options.on_second:
                        row = self._row(closed)
                        display.show(closed, progress_line(row, elapsed, duration, row["faults"]))
                        if self.options.on_second:
                            self.options.on_second(row)
        finally:
            if probe is not None:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
            display.done()

    async def _apply_faults(self, injector: ReferenceTargetFaults | None, elapsed: float) -> None:
        for window in list(self._faults):
            if window.status == "pending" and elapsed >= window.spec.at:
                if injector is None:
                    window.status = "skipped: the target has no fault admin API"
                    continue
                await self._start_fault(injector, window, elapsed)
            elif window.status == "injected" and elapsed >= window.spec.end:
                await self._clear_one(injector, window, elapsed)

    async def _start_fault(
        self, injector: ReferenceTargetFaults, window: _FaultWindow, elapsed: float
    ) -> None:
        window.status = "injecting"
        try:
            window.fault_id = await injector.inject(window.spec)
        except (FaultInjectionFailed, aiohttp.ClientError) as error:
            window.status = f"failed: {error}"
            return
        window.started_s, window.status = round(elapsed, 3), "injected"
        self._announce("fault_injected", elapsed, key=window.spec.key, **window.as_dict())

    async def _clear_one(
        self, injector: ReferenceTargetFaults | None, window: _FaultWindow, elapsed: float
    ) -> None:
        if injector is not None and window.fault_id is not None:
            try:
                await injector.clear(window.fault_id)
            except (FaultInjectionFailed, aiohttp.ClientError) as error:
                window.status = f"clear failed: {error}"
                return
        window.ended_s, window.status = round(elapsed, 3), "cleared"
        self._announce("fault_cleared", elapsed, key=window.spec.key, **window.as_dict())

    async def _clear_faults(self, injector: ReferenceTargetFaults | None, elapsed: float) -> None:
        for window in self._faults:
            if window.status == "injected":
                await self._clear_one(injector, window, elapsed)
        if injector is not None:
            try:
                await injector.clear_all()
            except (FaultInjectionFailed, aiohttp.ClientError):
                pass

    def _memory_growth_pct(self) -> float | None:
        samples = self._rss
        warm = max(5, len(samples) // 10)
        if len(samples) <= warm + 1 or samples[warm] <= 0:
            return None
        return (samples[-1] - samples[warm]) / samples[warm] * 100

    def _finish(
        self, store: SqliteRunStore, url: str, started: float, ended: float,
        received: int | None, workers: _Workers,
    ) -> LocalRunResult:
        failed = [
            worker_id
            for process, ids in zip(workers.processes, workers.ids, strict=True)
            for worker_id in ids
            if process.exitcode not in (0, None) or not self._finished(worker_id)
        ]
        if self._aborted:
            failed = []
        status = "aborted" if self._aborted else ("failed" if failed else "completed")
        notes = []
        missing = self.plan.scheduled_total - self.aggregator.totals.scheduled
        if missing and not self._aborted:
            notes.append(f"{missing} planned arrivals were never scheduled (failed workers)")
        facts = RunFacts(
            run_id=self.run_id, target=url, started_at=iso(started), ended_at=iso(ended),
            status=status, target_received=received, workers_expected=len(
                [i for ids in workers.ids for i in ids]
            ), workers_failed=failed, fault_windows=[w.as_dict() for w in self._faults],
            extra_metrics={"memory_growth_pct": self._memory_growth_pct()}, notes=notes,
        )
        summary = build_summary(
            self.spec, self.plan, self.aggregator, facts, self._prices,
            CURRENCIES[self.spec.reporting_currency].units_per_usd,
        )
        last = max(self.aggregator.seconds, default=-1)
        series = [self._row(second) for second in range(last + 1)]
        store.save_seconds(self.run_id, series)
        store.finish_run(self.run_id, status, facts.ended_at, summary)
        out_dir = self.options.out_dir
        outputs = write_outputs(out_dir, summary, series) if out_dir else {}
        if self._aborted:
            code = EXIT_ABORTED
        else:
            code = EXIT_PASSED if summary["passed"] else EXIT_FAILED
        return LocalRunResult(self.run_id, summary, series, outputs, code)

    def _finished(self, worker_id: str) -> bool:
        state = self.aggregator.workers.get(worker_id)
        return state is not None and state.finished

    # ---------------------------------------------------------------- live dashboard messages

    def _elapsed(self) -> float:
        return 0.0 if self._started is None else max(time.time() - self._started, 0.0)

    def _send(self, message: str) -> None:
        if self.options.broadcaster is not None:
            self.options.broadcaster.publish(message)

    def _announce(self, name: EventName, at_s: float, **detail: Any) -> None:
        self._send(self._live.event(name, max(at_s, 0.0), **detail).to_json())

    def _go_live(
        self, started: float, url: str, store: SqliteRunStore, workers: _Workers,
        reference: ReferenceService | None,
    ) -> None:
        """run_started, then a fresh snapshot so every viewer switches to this run."""
        if self.options.broadcaster is not None:
            self._meter = ProcessMeter(reference.pid if reference else None,
                                       [p.pid for p in workers.processes if p.pid])
            self._probe = TargetProbe(reference.base_url) if reference else None
        self._live.run = self._live.run.model_copy(update={"started_at": iso(started),
                                                           "target": url})
        self._announce("run_started", 0.0, status="running", scenario=self.spec.name)
        self._send(self.snapshot(store.list_runs(RECENT_RUNS)).to_json())

    def _degradation_changed(self, level: str) -> None:
        event = self._live.set_degradation(level, self._elapsed())
        if event is not None:
            self._send(event.to_json())

    def _reported(self, second: int) -> bool:
        """Every worker that sends during this second has reported it (or finished)."""
        for worker_id, start_s, end_s in self._shard_seconds:
            if start_s <= second < end_s:
                state = self.aggregator.workers.get(worker_id)
                if state is None or not (state.finished or state.last_window >= second):
                    return False
        return True

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
            elif second >= planned or elapsed < second + 1 or (
                elapsed < second + 1 + LIVE_GRACE_S and not self._reported(second)
            ):
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
