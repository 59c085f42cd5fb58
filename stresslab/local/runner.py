"""The local runtime: one run on this machine, from plan to summary, with worker processes."""

from __future__ import annotations

import asyncio
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
from stresslab.local.faults import FaultInjectionFailed, ReferenceTargetFaults
from stresslab.local.progress import ProgressDisplay, progress_line
from stresslab.local.reference import ReferenceService
from stresslab.local.store import SqliteRunStore
from stresslab.local.worker_process import worker_main
from stresslab.metrics import MetricsBatch
from stresslab.plan import Plan, plan_run
from stresslab.reference_data import CURRENCIES
from stresslab.report import write_outputs
from stresslab.spec import FaultSpec, ScenarioSpec
from stresslab.summary import RunFacts, build_summary
from stresslab.targets.http import check_reachable

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 3
START_MARGIN_S = 0.5
TICK_S = 0.25
READY_TIMEOUT_S = 60.0


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


@dataclass
class LocalRunResult:
    run_id: str
    summary: dict[str, Any]
    series: list[dict[str, Any]]
    outputs: dict[str, Path]
    exit_code: int


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

    def request_stop(self) -> None:
        """Abort: workers stop scheduling, drain what is in flight and report."""
        self._aborted = True
        self._stop.set()

    async def execute(self) -> LocalRunResult:
        reference: ReferenceService | None = None
        url = self.options.target_url
        if url is None:
            reference = await ReferenceService.start()
            url = reference.score_url
        store = SqliteRunStore(self.options.db_path)
        try:
            await check_reachable(url)
            return await self._execute(url, reference, store)
        finally:
            store.close()
            if reference is not None:
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
        try:
            await self._supervise(started, workers, store, faults, reference)
        finally:
            await self._clear_faults(faults, time.time() - started)
            self._stop.set()
            for process in workers.processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            pump.join(timeout=10)
        self._drain_pending(store)
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

    def _row(self, second: int) -> dict[str, Any]:
        active = [
            w.spec.key for w in self._faults
            if w.started_s is not None and w.started_s <= second + 1
            and (w.ended_s is None or w.ended_s > second)
        ]
        return self.aggregator.second_row(second, active)

    async def _supervise(
        self, started: float, workers: _Workers, store: SqliteRunStore,
        faults: ReferenceTargetFaults | None, reference: ReferenceService | None,
    ) -> None:
        display = ProgressDisplay(enabled=self.options.progress)
        shown = -1
        duration = self.spec.duration
        while any(p.is_alive() for p in workers.processes):
            await asyncio.sleep(TICK_S)
            elapsed = time.time() - started
            await self._apply_faults(faults, elapsed)
            self._drain_pending(store)
            closed = math.floor(elapsed) - 1
            if closed > shown and closed >= 0:
                shown = closed
                row = self._row(closed)
                if reference is not None:
                    self._rss.append(reference.rss_mb())
                display.show(closed, progress_line(row, elapsed, duration, row["faults"]))
                if self.options.on_second:
                    self.options.on_second(row)
        display.done()

    async def _apply_faults(self, injector: ReferenceTargetFaults | None, elapsed: float) -> None:
        for window in self._faults:
            if window.status == "pending" and elapsed >= window.spec.at:
                if injector is None:
                    window.status = "skipped: the target has no fault admin API"
                    continue
                try:
                    window.fault_id = await injector.inject(window.spec)
                    window.started_s, window.status = round(elapsed, 3), "injected"
                except (FaultInjectionFailed, aiohttp.ClientError) as error:
                    window.status = f"failed: {error}"
            elif window.status == "injected" and elapsed >= window.spec.end:
                await self._clear_one(injector, window, elapsed)

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
            self.spec, self.plan, self.aggregator, facts, load_price_table(),
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
