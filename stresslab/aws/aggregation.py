"""The aggregator's logic: merge MetricsBatches once into the table, and tick the dashboards."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stresslab.aggregate import RunAggregator, WorkerState
from stresslab.aws.store import MergeResult, StoredWindow, WorkerRecord
from stresslab.business import PriceTable
from stresslab.live import LiveEvent, LiveFeed, Tick, describe_run
from stresslab.metrics import MetricsBatch, WindowStats
from stresslab.reference_data import CURRENCIES
from stresslab.spec import ScenarioSpec
from stresslab.summary import criterion_window

logger = logging.getLogger(__name__)


def window_stats(stored: StoredWindow) -> WindowStats:
    """A stored merged window back as the core's WindowStats (with its real batch count)."""
    stats = WindowStats()
    stats.add_batch(stored.batch)
    stats.batches = stored.batches
    return stats


def rebuild_aggregator(
    run_id: str, expected_per_second: list[float], seconds: dict[int, StoredWindow],
    workers: dict[str, WorkerRecord] | None = None, duplicates: int = 0,
) -> RunAggregator:
    """The core RunAggregator of a run, from its stored seconds: what Evaluate judges."""
    aggregator = RunAggregator(run_id, expected_per_second)
    for second in sorted(seconds):
        stats = window_stats(seconds[second])
        aggregator.seconds[second] = stats
        aggregator.totals.add_stats(stats)
    for worker_id, record in (workers or {}).items():
        aggregator.workers[worker_id] = WorkerState(
            last_window=record.final_window if record.final_window is not None else -1,
            batches=record.batches, finished=record.complete,
        )
    aggregator.duplicates = duplicates
    return aggregator


class MetricsStore(Protocol):
    def merge_batch(self, batch: MetricsBatch) -> MergeResult: ...

    def get_run(self, run_id: str) -> dict[str, Any]: ...

    def total(self, run_id: str) -> StoredWindow | None: ...

    def second(self, run_id: str, second: int) -> StoredWindow | None: ...

    def seconds_between(self, run_id: str, start: int, end: int) -> dict[int, StoredWindow]: ...

    def infra(self) -> dict[str, Any] | None: ...


class Broadcaster(Protocol):
    def broadcast(self, message: str, roles: frozenset[str] | None = None) -> Any: ...


@dataclass
class _TickAggregator(RunAggregator):
    """A RunAggregator holding only the second being ticked and the run total, plus the
    merged windows of criteria whose window has ended, which LiveFeed judges on."""

    closed_windows: dict[tuple[int, int], WindowStats] = field(default_factory=dict)

    def window(self, start: int, end: int) -> WindowStats:
        cached = self.closed_windows.get((start, end))
        return cached if cached is not None else super().window(start, end)


@dataclass
class _RunView:
    spec: ScenarioSpec
    feed: LiveFeed
    fault_windows: list[tuple[str, float, float]]
    last_ticked: int = -1
    closed_windows: dict[tuple[int, int], WindowStats] = field(default_factory=dict)


@dataclass
class LiveTicker:
    """Builds stresslab.live/v1 ticks with the core LiveFeed and pushes them to every viewer.

    The feed is kept per run in this (warm) container; each second is ticked once, when a
    later second has started arriving or its worker said it was final.
    """

    store: MetricsStore
    broadcaster: Broadcaster
    prices: PriceTable
    _runs: dict[str, _RunView] = field(default_factory=dict)

    def _view(self, run_id: str) -> _RunView:
        view = self._runs.get(run_id)
        if view is None:
            run = self.store.get_run(run_id)
            spec = ScenarioSpec.model_validate(run["spec"])
            expected = run["plan"]["expected_per_second"]
            live = describe_run(spec, run_id, run["started_at"], run["status"], run["target"],
                                expected)
            feed = LiveFeed(spec, live, self.prices,
                            CURRENCIES[spec.reporting_currency].units_per_usd)
            scheduled = {f["key"] for f in run.get("faults", [])}
            windows = [(f.key, f.at, f.end) for f in spec.faults if f.key in scheduled]
            view = self._runs[run_id] = _RunView(spec, feed, windows)
        return view

    def due(self, run_id: str, touched: Iterable[int], final: bool) -> int | None:
        latest = max(touched, default=-1)
        closed = latest if final else latest - 1
        view = self._runs.get(run_id)
        last = view.last_ticked if view else -1
        return closed if closed > last and closed >= 0 else None

    def tick(self, run_id: str, second: int) -> tuple[Tick, list[LiveEvent]] | None:
        view = self._view(run_id)
        stored = self.store.second(run_id, second)
        total = self.store.total(run_id)
        if stored is None or total is None:
            return None
        self._close_windows(run_id, view, second)
        aggregator = _TickAggregator(run_id, view.feed.run.expected_per_second,
                                     closed_windows=view.closed_windows)
        aggregator.seconds[second] = window_stats(stored)
        aggregator.totals = window_stats(total)
        active = [key for key, start, end in view.fault_windows if start <= second < end]
        tick, events = view.feed.tick(aggregator, second, faults_active=active,
                                      infra=self.store.infra())
        tick.totals["peak_tps"] = max(int(tick.totals.get("peak_tps") or 0), total.peak_sent)
        view.last_ticked = second
        self.broadcaster.broadcast(tick.to_json())
        for event in events:
            self.broadcaster.broadcast(event.to_json())
        return tick, events

    def _close_windows(self, run_id: str, view: _RunView, second: int) -> None:
        """Load, once, the seconds of each criterion window LiveFeed is about to judge (it
        judges a phase once, a second after it ended, to let its last answers in)."""
        for criterion in view.spec.criteria:
            window = criterion_window(criterion, view.spec)
            if window is None or second < window[1] or window in view.closed_windows:
                continue
            stored = self.store.seconds_between(run_id, *window)
            view.closed_windows[window] = WindowStats.merged(
                window_stats(w) for w in stored.values()
            )


@dataclass
class MergeReport:
    merged: int = 0
    duplicates: int = 0
    touched: dict[str, set[int]] = field(default_factory=dict)
    final: set[str] = field(default_factory=set)

    def add(self, batch: MetricsBatch, result: MergeResult) -> None:
        if not result.new:
            self.duplicates += 1
            return
        self.merged += 1
        self.touched.setdefault(batch.run_id, set()).add(batch.window)
        if batch.final:
            self.final.add(batch.run_id)


def merge_record(store: MetricsStore, data: bytes | str, report: MergeReport) -> None:
    """Decode one Kinesis record and merge it (raises so the record is reported as failed)."""
    batch = MetricsBatch.model_validate_json(data)
    report.add(batch, store.merge_batch(batch))


def push_ticks(ticker: LiveTicker, report: MergeReport) -> list[Tick]:
    """One tick per run whose next second has closed; failures here never fail the batch."""
    pushed: list[Tick] = []
    for run_id, touched in report.touched.items():
        second = ticker.due(run_id, touched, run_id in report.final)
        if second is None:
            continue
        try:
            ticked = ticker.tick(run_id, second)
            if ticked:
                pushed.append(ticked[0])
        except Exception:  # noqa: BLE001 - the merge is done; a dashboard hiccup is only logged
            logger.exception("tick for %s second %d failed", run_id, second)
    return pushed


def alarm_readings(ticks: Iterable[Tick]) -> list[tuple[str, float]]:
    """The seed's alert inputs per closed second: ErrorRate (%) and LatencyP99 (ms)."""
    readings: list[tuple[str, float]] = []
    for tick in ticks:
        window = tick.window
        if window["sent"]:
            failed = window["errors"] + window["timeouts"]
            readings.append(("ErrorRate", 100.0 * failed / window["sent"]))
        if window.get("p99_ms") is not None:
            readings.append(("LatencyP99", float(window["p99_ms"])))
    return readings
