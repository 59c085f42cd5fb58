"""The aggregator's logic: merge MetricsBatches once into the table, tick each second once its
workers have closed it, and push the ticks to the dashboards."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from stresslab.aws.second_items import (
    MERGED_WORKER,
    MergeOutcome,
    StoredWindow,
    WorkerRecord,
    merge_batches_of,
    worker_slot,
)
from stresslab.generation.catalog import CURRENCIES
from stresslab.generation.plan import Plan
from stresslab.judgement.business import PriceTable
from stresslab.judgement.summary import criterion_window
from stresslab.measurement.aggregate import RunAggregator, WorkerState
from stresslab.measurement.live import LiveEvent, Tick, describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import MetricsBatch, WindowStats
from stresslab.scenario.spec import ScenarioSpec

logger = logging.getLogger(__name__)

# How long after a second ends its tick waits for late workers before going out as partial.
GRACE_S = 15.0


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
    def merge_batches(self, batches: Iterable[MetricsBatch]) -> MergeOutcome: ...

    def get_run(self, run_id: str) -> dict[str, Any]: ...

    def second(self, run_id: str, second: int) -> StoredWindow | None: ...

    def seconds_between(self, run_id: str, start: int, end: int) -> dict[int, StoredWindow]: ...

    def last_tick(self, run_id: str) -> tuple[int, StoredWindow] | None: ...

    def put_tick(self, run_id: str, second: int, totals: StoredWindow, partial: bool) -> bool: ...

    def correct_tick(self, run_id: str, second: int, totals: StoredWindow) -> bool: ...

    def total(self, run_id: str) -> StoredWindow | None: ...

    def ticks(self, run_id: str) -> dict[int, StoredWindow]: ...

    def infra(self) -> dict[str, Any] | None: ...


class Broadcaster(Protocol):
    def broadcast(
        self, message: str, roles: frozenset[str] | None = None, deadline: float | None = None,
    ) -> Any: ...


def expected_by_second(plan: Plan) -> list[frozenset[str]]:
    """The planned workers (wave x shard) that must report each second of the run."""
    seconds = len(plan.expected_per_second)
    expected: list[set[str]] = [set() for _ in range(seconds)]
    for assignment in plan.assignments(run_started_at=0.0):
        for second in range(assignment.start_s, min(assignment.end_s, seconds)):
            expected[second].add(assignment.worker_id)
    return [frozenset(workers) for workers in expected]


@dataclass(frozen=True)
class Watermark:
    """Which of a second's expected workers have closed it (any attempt's batch merged)."""

    expected: frozenset[str]
    closed: frozenset[str]

    @property
    def complete(self) -> bool:
        return self.closed >= self.expected


def watermark(expected: frozenset[str], stored: StoredWindow | None) -> Watermark:
    merged = {worker_slot(w) for w in stored.workers} if stored else set()
    return Watermark(expected, frozenset(merged & expected))


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
    expected: list[frozenset[str]]
    started_at: float
    closed_windows: dict[tuple[int, int], WindowStats] = field(default_factory=dict)


@dataclass(frozen=True)
class TickedSecond:
    tick: Tick
    events: list[LiveEvent]
    watermark: Watermark
    correction: bool = False  # the latest ticked second again, with batches merged after it

    @property
    def partial(self) -> bool:
        return not self.watermark.complete

    def messages(self) -> list[str]:
        return [self.tick.to_json(), *(event.to_json() for event in self.events)]


@dataclass
class LiveTicker:
    """Builds stresslab.live/v1 ticks with the core LiveFeed, each second once, in order.

    A second is ticked when every worker planned in it has merged its batch for it (the
    watermark), or, once `grace_s` has passed since it ended, as partial. Whichever
    aggregator claims a second's TICK item first ticks it; the item carries the running
    totals, so no item is written per batch.

    A batch can still be merged after its second was ticked (after the grace, or into a
    second past the plan). The last planned second's totals are therefore summed from every
    stored second, and an aggregator that merged into a second already ticked re-sums the
    latest tick's totals and, if they grew, raises them and ticks that second again (a
    correction): the pages' last totals are the summary's, whoever merged last.
    """

    store: MetricsStore
    prices: PriceTable
    clock: Callable[[], float] = time.time
    grace_s: float = GRACE_S
    max_ticks: int = 60
    _runs: dict[str, _RunView] = field(default_factory=dict)

    def _view(self, run_id: str) -> _RunView:
        view = self._runs.get(run_id)
        if view is None:
            view = self._runs[run_id] = self._new_view(run_id)
        return view

    def _new_view(self, run_id: str) -> _RunView:
        run = self.store.get_run(run_id)
        spec = ScenarioSpec.model_validate(run["spec"])
        plan = Plan.model_validate(run["plan"])
        live = describe_run(spec, run_id, run["started_at"], run["status"], run["target"],
                            plan.expected_per_second)
        feed = LiveFeed(spec, live, self.prices, CURRENCIES[spec.reporting_currency].units_per_usd)
        scheduled = {f["key"] for f in run.get("faults", [])}
        windows = [(f.key, f.at, f.end) for f in spec.faults if f.key in scheduled]
        return _RunView(spec, feed, windows, expected_by_second(plan),
                        float(run["run_started_at"]))

    def advance(self, run_id: str, merged: Collection[int] = ()) -> list[TickedSecond]:
        """Tick every second after the last ticked one that the watermark (or the grace) has
        closed, in order, up to the first still open; then correct the latest tick if it
        lacks batches merged here. `merged`: the seconds this call's merge wrote into."""
        view = self._view(run_id)
        final = len(view.expected) - 1
        last = self.store.last_tick(run_id)
        second, totals = (last[0] + 1, last[1]) if last else (0, None)
        ticked: list[TickedSecond] = []
        while second <= final and len(ticked) < self.max_ticks:
            stored = self.store.second(run_id, second)
            mark = watermark(view.expected[second], stored)
            overdue = self.clock() >= view.started_at + second + 1 + self.grace_s
            if not (mark.complete or overdue):
                break
            window = stored.batch if stored else WindowStats().to_batch(
                run_id, MERGED_WORKER, 0, 0, 0, second)
            if second == final:
                totals = self._totals_through(run_id, second, final) or StoredWindow(
                    window, 0, second + 1)
            else:
                totals = StoredWindow(
                    merge_batches_of([totals.batch, window] if totals else [window], run_id, 0),
                    (totals.batches if totals else 0) + (stored.batches if stored else 0),
                    second + 1, max(totals.peak_sent if totals else 0, window.sent),
                )
            if not self.store.put_tick(run_id, second, totals, partial=not mark.complete):
                # another aggregator ticked it first, maybe on a read from before this merge:
                # go on from its latest tick, so the last second is ticked or corrected here
                last = self.store.last_tick(run_id)
                if last is None or last[0] < second:
                    break
                second, totals = last[0] + 1, last[1]
                continue
            ticked.append(self._tick(run_id, view, second, window, totals, mark,
                                     self.store.infra()))
            second += 1
        # A second this call ticked was read after the merge; the last one on every second.
        ours = {t.tick.second for t in ticked}
        late = set(merged) - ours
        if late and final not in ours:
            ticked += self._correct(run_id, view, late, final)
        return ticked

    def _totals_through(self, run_id: str, second: int, final: int) -> StoredWindow | None:
        """The run's totals summed from its stored seconds through `second`; through the last
        planned second, every stored second (the drain past the plan too), as the summary."""
        if second >= final:
            return self.store.total(run_id)
        seconds = self.store.seconds_between(run_id, 0, second + 1)
        if not seconds:
            return None
        return StoredWindow(
            merge_batches_of((w.batch for w in seconds.values()), run_id, 0),
            sum(w.batches for w in seconds.values()), second + 1,
            max(w.batch.sent for w in seconds.values()),
        )

    def _correct(
        self, run_id: str, view: _RunView, merged: Collection[int], final: int,
    ) -> list[TickedSecond]:
        """The latest tick again when batches merged into a ticked second (or after the last
        planned one) are not in its totals; re-summed after the merge, so the aggregator that
        merged last always leaves the totals whole (the store keeps the larger of two)."""
        last = self.store.last_tick(run_id)
        if last is None:
            return []
        second, held = last
        if not any(m <= second or second == final for m in merged):
            return []  # nothing merged into a ticked second (or after the last)
        totals = self._totals_through(run_id, second, final)
        if totals is None or totals.batches <= held.batches:
            return []
        if not self.store.correct_tick(run_id, second, totals):
            return []
        stored = self.store.second(run_id, second)
        window = stored.batch if stored else WindowStats().to_batch(
            run_id, MERGED_WORKER, 0, 0, 0, second)
        mark = watermark(view.expected[second], stored)
        corrected = self._tick(run_id, view, second, window, totals, mark, self.store.infra())
        return [TickedSecond(corrected.tick, corrected.events, mark, correction=True)]

    def replay(self, run_id: str) -> LiveFeed:
        """The run's feed rebuilt from the seconds already ticked (their TICK items hold the
        running totals), for a viewer who opens a page mid-run; writes nothing, and the
        aggregator's own view is left as it is."""
        view = self._new_view(run_id)
        ticks = self.store.ticks(run_id)
        windows = self.store.seconds_between(run_id, 0, max(ticks) + 1) if ticks else {}
        infra = self.store.infra()
        for second in sorted(s for s in ticks if s < len(view.expected)):
            stored = windows.get(second)
            window = stored.batch if stored else WindowStats().to_batch(
                run_id, MERGED_WORKER, 0, 0, 0, second)
            self._tick(run_id, view, second, window, ticks[second],
                       watermark(view.expected[second], stored), infra)
        return view.feed

    def _tick(
        self, run_id: str, view: _RunView, second: int, window: MetricsBatch,
        totals: StoredWindow, mark: Watermark, infra: dict[str, Any] | None,
    ) -> TickedSecond:
        self._close_windows(run_id, view, second)
        aggregator = _TickAggregator(run_id, view.feed.run.expected_per_second,
                                     closed_windows=view.closed_windows)
        aggregator.seconds[second] = WindowStats.from_batch(window)
        aggregator.totals = WindowStats.from_batch(totals.batch)
        active = [key for key, start, end in view.fault_windows if start <= second < end]
        tick, events = view.feed.tick(aggregator, second, faults_active=active, infra=infra)
        tick.totals["peak_tps"] = max(int(tick.totals.get("peak_tps") or 0), totals.peak_sent)
        tick.window["partial"] = not mark.complete
        tick.window["workers_expected"] = len(mark.expected)
        tick.window["workers_closed"] = len(mark.closed)
        return TickedSecond(tick, events, mark)

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


def decode_record(data: bytes | str) -> MetricsBatch:
    """One Kinesis record's MetricsBatch (raises, so the record is reported as failed)."""
    return MetricsBatch.model_validate_json(data)


def advance_runs(
    ticker: LiveTicker, runs: Mapping[str, Collection[int]],
) -> list[TickedSecond]:
    """Ticks for every run this invocation touched (run: the seconds it merged batches into);
    a failure here never fails the merge."""
    ticked: list[TickedSecond] = []
    for run_id in sorted(runs):
        try:
            ticked += ticker.advance(run_id, runs[run_id])
        except Exception:  # noqa: BLE001 - the merge is done; a dashboard hiccup is only logged
            logger.exception("ticks for %s failed", run_id)
    return ticked


def alarm_readings(ticks: Iterable[Tick]) -> list[tuple[str, float]]:
    """The design brief's alert inputs per closed second: ErrorRate (%) and LatencyP99 (ms)
    (give it each second once: not its corrections)."""
    readings: list[tuple[str, float]] = []
    for tick in ticks:
        window = tick.window
        if window["sent"]:
            failed = window["errors"] + window["timeouts"]
            readings.append(("ErrorRate", 100.0 * failed / window["sent"]))
        p99 = window.get("p99_ms")
        if p99 is not None:
            readings.append(("LatencyP99", float(p99)))
    return readings


def publish(broadcaster: Broadcaster, ticked: Iterable[TickedSecond], deadline: float) -> int:
    """Push the ticks to the viewers until the deadline; what was not sent is dropped (the
    next snapshot catches a viewer up). Returns the messages pushed."""
    pushed = 0
    for second in ticked:
        for message in second.messages():
            broadcaster.broadcast(message, deadline=deadline)
            pushed += 1
    return pushed
