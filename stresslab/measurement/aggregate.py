"""Aggregation: merge MetricsBatches per second across workers, exactly and once each."""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from stresslab.measurement.metrics import ERROR_CLASSES, MetricsBatch, WindowStats
from stresslab.measurement.seconds import Seconds


def _ms(stats: WindowStats, percentile: float) -> float | None:
    if stats.latency.get_total_count() == 0:
        return None
    return percentiles_us(stats.latency, (percentile,))[0] / 1000.0


# HdrHistogram's own mean and percentiles walk the buckets one Python call at a time: tens
# of milliseconds per histogram, paid several times a second by the live views. These give
# the same numbers from C-level passes over the counts.
_MEDIANS: dict[tuple[int, int, int], list[int]] = {}


def _bucket_medians(histogram: HdrHistogram) -> list[int]:
    key = (histogram.unit_magnitude, histogram.sub_bucket_count, histogram.counts_len)
    medians = _MEDIANS.get(key)
    if medians is None:
        medians = []
        for index in range(histogram.counts_len):
            value = histogram.get_value_from_index(index)
            low = histogram.get_lowest_equivalent_value(value)
            high = histogram.get_highest_equivalent_value(value)
            medians.append(low + ((high - low + 1) >> 1))
        _MEDIANS[key] = medians
    return medians


def _filled_counts(histogram: HdrHistogram) -> list[int]:
    """The counts up to the last non-zero one (found on the raw bytes, without a Python loop)."""
    raw = bytes(histogram.counts)[: histogram.counts_len * histogram.word_size]
    filled = -(-len(raw.rstrip(b"\0")) // histogram.word_size)
    return histogram.counts[:filled]


def mean_us(histogram: HdrHistogram) -> float:
    """Equal to `histogram.get_mean_value()`."""
    total_count = histogram.get_total_count()
    if not total_count:
        return 0.0
    counts = _filled_counts(histogram)
    return float(sum(map(operator.mul, counts, _bucket_medians(histogram)))) / total_count


def percentiles_us(histogram: HdrHistogram, percentiles: Iterable[float]) -> list[int]:
    """Equal to `histogram.get_value_at_percentile(p)` for each p, in one pass."""
    cumulative = list(itertools.accumulate(_filled_counts(histogram)))
    values = []
    for percentile in percentiles:
        index = bisect.bisect_left(cumulative, histogram.get_target_count_at_percentile(percentile))
        if index >= len(cumulative):
            values.append(0)
            continue
        value = histogram.get_value_from_index(index)
        values.append(histogram.get_highest_equivalent_value(value) if percentile
                      else histogram.get_lowest_equivalent_value(value))
    return values


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def latency_ms(stats: WindowStats) -> dict[str, float | None]:
    histogram = stats.latency
    if histogram.get_total_count() == 0:
        return dict.fromkeys(("avg", "p50", "p90", "p95", "p99", "p999", "max"))
    p50, p90, p95, p99, p999 = percentiles_us(histogram, (50, 90, 95, 99, 99.9))
    return {
        "avg": mean_us(histogram) / 1000.0,
        "p50": p50 / 1000.0,
        "p90": p90 / 1000.0,
        "p95": p95 / 1000.0,
        "p99": p99 / 1000.0,
        "p999": p999 / 1000.0,
        "max": histogram.get_max_value() / 1000.0,
    }


def accuracy_of(stats: WindowStats) -> dict[str, Any]:
    labelled = stats.tp + stats.fp + stats.tn + stats.fn
    return {
        "labelled": labelled,
        "accuracy": _ratio(stats.tp + stats.tn, labelled),
        "precision": _ratio(stats.tp, stats.tp + stats.fp),
        "recall": _ratio(stats.tp, stats.tp + stats.fn),
        "false_positive_rate": _ratio(stats.fp, stats.fp + stats.tn),
        "tp": stats.tp,
        "fp": stats.fp,
        "tn": stats.tn,
        "fn": stats.fn,
        "by_pattern": {
            pattern: {"seen": seen, "flagged": flagged, "detection_rate": _ratio(flagged, seen)}
            for pattern, (seen, flagged) in sorted(stats.patterns.items())
        },
    }


def agents_of(stats: WindowStats) -> dict[str, dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = {}
    for name in sorted(stats.agent_calls):
        histogram = stats.agent_latency.get(name)
        timed = histogram is not None and histogram.get_total_count() > 0
        agents[name] = {
            "calls": stats.agent_calls[name],
            "errors": stats.agent_errors.get(name, 0),
            "avg_ms": mean_us(histogram) / 1000.0 if timed and histogram else None,
            "p95_ms": percentiles_us(histogram, (95,))[0] / 1000.0 if timed and histogram
            else None,
        }
    return agents


def window_metrics(
    stats: WindowStats,
    seconds: float,
    expected: float,
    target_received: int | None = None,
    extra: Mapping[str, float | None] | None = None,
) -> dict[str, float | None]:
    """The named metrics that criteria are judged on, for one window of the run."""
    latency = latency_ms(stats)
    accuracy = accuracy_of(stats)
    errors = stats.error_total
    answered = stats.ok + errors + stats.timeouts
    unreceived = 0 if target_received is None else max(0, stats.sent - target_received)
    agent_calls = sum(stats.agent_calls.values())
    metrics: dict[str, float | None] = {
        "avg_ms": latency["avg"],
        "p50_ms": latency["p50"],
        "p90_ms": latency["p90"],
        "p95_ms": latency["p95"],
        "p99_ms": latency["p99"],
        "p999_ms": latency["p999"],
        "max_ms": latency["max"],
        "error_rate": _ratio(errors + stats.timeouts, stats.sent),
        "timeout_rate": _ratio(stats.timeouts, stats.sent),
        "throttle_rate": _ratio(stats.errors["http_429"], stats.sent),
        "drop_rate": _ratio(stats.dropped, stats.scheduled),
        "dropped": float(stats.dropped),
        "lost": float(max(0, stats.sent - answered) + unreceived),
        "sent": float(stats.sent),
        "errors": float(errors),
        "timeouts": float(stats.timeouts),
        "achieved_tps": stats.sent / seconds if seconds > 0 else None,
        "rate_error_pct": abs(stats.sent - expected) / expected * 100 if expected else None,
        "accuracy": accuracy["accuracy"],
        "precision": accuracy["precision"],
        "recall": accuracy["recall"],
        "false_positive_rate": accuracy["false_positive_rate"],
        "agent_error_rate": _ratio(sum(stats.agent_errors.values()), agent_calls),
        "lag_p99_ms": percentiles_us(stats.lag, (99,))[0] / 1000.0
        if stats.lag.get_total_count() else None,
    }
    if extra:
        metrics.update(extra)
    return metrics


@dataclass
class WorkerState:
    """What the aggregator knows of one worker: its last window and whether it finished."""

    last_window: int = -1
    batches: int = 0
    finished: bool = False


class SeenBatches:
    """The (worker, seq) keys already counted, kept as each worker's run of seqs from 0 plus
    the few seen out of order: bounded by the workers, not by the run's length."""

    def __init__(self) -> None:
        self._below: dict[str, int] = {}  # every seq below this has been seen
        self._ahead: dict[str, set[int]] = {}

    def seen(self, key: tuple[str, int]) -> bool:
        worker_id, seq = key
        return seq < self._below.get(worker_id, 0) or seq in self._ahead.get(worker_id, ())

    def add(self, key: tuple[str, int]) -> None:
        worker_id, seq = key
        below = self._below.get(worker_id, 0)
        ahead = self._ahead.setdefault(worker_id, set())
        if seq < below:
            return
        ahead.add(seq)
        while below in ahead:
            ahead.discard(below)
            below += 1
        self._below[worker_id] = below

    def __len__(self) -> int:
        return sum(self._below.values()) + sum(map(len, self._ahead.values()))

    @property
    def held(self) -> int:
        """Keys held one by one (seen out of order)."""
        return sum(map(len, self._ahead.values()))


@dataclass
class RunAggregator:
    """Per-second windows and run totals; a batch seen twice (same worker, seq) counts once."""

    run_id: str
    expected_per_second: list[float]
    seconds: Seconds = field(default_factory=Seconds)
    totals: WindowStats = field(default_factory=WindowStats)
    workers: dict[str, WorkerState] = field(default_factory=dict)
    duplicates: int = 0
    foreign: int = 0
    _seen: SeenBatches = field(default_factory=SeenBatches)
    _dirty: set[int] = field(default_factory=set)

    def add(self, batch: MetricsBatch) -> bool:
        """Merge a batch; False (and nothing changes) for a duplicate or another run's batch."""
        if batch.run_id != self.run_id:
            self.foreign += 1
            return False
        if self._seen.seen(batch.key):
            self.duplicates += 1
            return False
        self._seen.add(batch.key)
        decoded = WindowStats.from_batch(batch)
        self.totals.add_stats(decoded)
        self.seconds.merge(batch.window, decoded)
        worker = self.workers.setdefault(batch.worker_id, WorkerState())
        worker.last_window = max(worker.last_window, batch.window)
        worker.batches += 1
        worker.finished = worker.finished or batch.final
        self._dirty.add(batch.window)
        return True

    def add_all(self, batches: Iterable[MetricsBatch]) -> int:
        return sum(1 for batch in batches if self.add(batch))

    def take_dirty(self) -> list[int]:
        """Seconds changed since the last call (for the store and live views)."""
        dirty, self._dirty = sorted(self._dirty), set()
        return dirty

    def expected_between(self, start: int, end: int) -> float:
        return sum(self.expected_per_second[max(start, 0):max(end, 0)])

    def window(self, start: int, end: int) -> WindowStats:
        """All seconds in [start, end) merged."""
        return WindowStats.merged(self.seconds.between(start, end))

    def second_row(self, second: int, faults: Iterable[str] = ()) -> dict[str, Any]:
        """One row of the per-second series."""
        stats = self.seconds.get(second) or WindowStats()
        latency = latency_ms(stats)
        accuracy = accuracy_of(stats)
        return {
            "second": second,
            "target_tps": round(self.expected_per_second[second], 3)
            if 0 <= second < len(self.expected_per_second) else 0.0,
            "scheduled": stats.scheduled,
            "sent": stats.sent,
            "ok": stats.ok,
            "errors": stats.error_total,
            "timeouts": stats.timeouts,
            "dropped": stats.dropped,
            "errors_by_class": {name: stats.errors[name] for name in ERROR_CLASSES},
            "p50_ms": latency["p50"],
            "p95_ms": latency["p95"],
            "p99_ms": latency["p99"],
            "max_ms": latency["max"],
            "lag_p99_ms": percentiles_us(stats.lag, (99,))[0] / 1000.0
            if stats.lag.get_total_count() else None,
            "labelled": accuracy["labelled"],
            "accuracy": accuracy["accuracy"],
            "tp": stats.tp,
            "fp": stats.fp,
            "tn": stats.tn,
            "fn": stats.fn,
            "patterns": {p: [seen, flagged] for p, (seen, flagged) in stats.patterns.items()},
            "decisions": dict(stats.decisions),
            "fraud_prevented_usd": round(stats.fraud_prevented, 2),
            "agents": agents_of(stats),
            "active_workers": stats.batches,
            "faults": list(faults),
        }

    def latency_drift_pct(self, start: int, end: int) -> float | None:
        """p95 of the window's last quarter against its first quarter, in percent."""
        quarter = (end - start) // 4
        if quarter < 1:
            return None
        first = _ms(self.window(start, start + quarter), 95)
        last = _ms(self.window(end - quarter, end), 95)
        if first is None or last is None or first == 0:
            return None
        return (last - first) / first * 100


def aggregator_from_batches(
    run_id: str, expected_per_second: list[float], batches: Iterable[MetricsBatch],
    seconds: Seconds | None = None,
) -> RunAggregator:
    """A run's aggregator rebuilt from its stored raw batches, e.g. after a restart mid-run.

    Merging is exact and a batch counts once whatever order it comes in, so the rebuilt
    aggregator equals the one that saw the batches live; batches that arrive afterwards
    (again or for the first time) are added to it as usual.
    """
    aggregator = RunAggregator(run_id, expected_per_second,
                               Seconds() if seconds is None else seconds)
    aggregator.add_all(batches)
    return aggregator
