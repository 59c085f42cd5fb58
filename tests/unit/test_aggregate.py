"""The aggregator: exact sums per second, a batch delivered twice is counted once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stresslab.measurement.aggregate import RunAggregator, mean_us, percentiles_us, window_metrics
from stresslab.measurement.metrics import MetricsBatch, WindowStats, record_us


def batch(worker: str, seq: int, window: int, sent: int = 10, run: str = "run",
          final: bool = False, latency_s: float = 0.01) -> MetricsBatch:
    stats = WindowStats()
    stats.scheduled = stats.sent = sent
    stats.ok = sent
    for _ in range(sent):
        record_us(stats.latency, latency_s)
        stats.record_decision("approve", False, False, "normal", 1.0)
    return stats.to_batch(run, worker, 0, 0, seq, window, final=final)


def test_a_batch_delivered_twice_is_counted_once():
    # Given an aggregator and a batch
    aggregator = RunAggregator("run", [20.0, 20.0])
    first = batch("w0-s0", 0, 0)
    # When the same batch arrives twice (a redelivery) and once more re-serialised
    assert aggregator.add(first) is True
    assert aggregator.add(first) is False
    assert aggregator.add(MetricsBatch.model_validate_json(first.model_dump_json(by_alias=True))) \
        is False
    # Then it counts once
    assert aggregator.totals.sent == 10
    assert aggregator.seconds[0].sent == 10
    assert aggregator.duplicates == 2


def test_batches_of_another_run_change_nothing():
    aggregator = RunAggregator("run", [10.0])
    assert aggregator.add(batch("w", 0, 0, run="other")) is False
    assert aggregator.totals.sent == 0 and aggregator.foreign == 1


def test_out_of_order_batches_land_in_their_seconds():
    aggregator = RunAggregator("run", [20.0] * 3)
    aggregator.add_all([batch("a", 2, 2), batch("b", 0, 0), batch("a", 0, 0), batch("a", 1, 1),
                        batch("b", 1, 1, final=True)])
    assert [aggregator.seconds[s].sent for s in range(3)] == [20, 20, 10]
    assert aggregator.take_dirty() == [0, 1, 2]
    assert aggregator.take_dirty() == []
    assert aggregator.workers["b"].finished and not aggregator.workers["a"].finished
    assert aggregator.window(0, 2).sent == 40
    row = aggregator.second_row(0, ["latency:geo"])
    assert row["sent"] == 20 and row["target_tps"] == 20.0 and row["faults"] == ["latency:geo"]
    assert row["p95_ms"] == pytest.approx(10, rel=0.01)


def test_window_metrics():
    stats = WindowStats()
    stats.scheduled, stats.sent, stats.ok, stats.timeouts, stats.dropped = 100, 98, 95, 1, 2
    stats.errors["http_5xx"] = 2
    stats.record_decision("block", True, True, "x", 1)
    stats.record_decision("approve", False, False, "normal", 1)
    stats.record_decision("block", True, False, "normal", 1)
    metrics = window_metrics(stats, seconds=10, expected=100, target_received=97)
    assert metrics["error_rate"] == pytest.approx(3 / 98)
    assert metrics["drop_rate"] == pytest.approx(0.02)
    assert metrics["lost"] == 1  # the target saw one request fewer than was sent
    assert metrics["achieved_tps"] == pytest.approx(9.8)
    assert metrics["rate_error_pct"] == pytest.approx(2.0)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == 1.0
    assert metrics["false_positive_rate"] == pytest.approx(0.5)
    assert metrics["p95_ms"] is None


def test_latency_drift_compares_last_quarter_with_first():
    aggregator = RunAggregator("run", [10.0] * 8)
    for second in range(8):
        aggregator.add(batch("w", second, second, latency_s=0.010 if second < 4 else 0.020))
    assert aggregator.latency_drift_pct(0, 8) == pytest.approx(100, rel=0.01)
    assert aggregator.latency_drift_pct(0, 2) is None


@given(st.lists(st.integers(min_value=1, max_value=3_600_000_000), min_size=0, max_size=300))
@settings(max_examples=25, deadline=None)
def test_fast_mean_and_percentiles_equal_hdrhistograms_own(values):
    recorded = WindowStats()
    for value in values:
        recorded.latency.record_value(value)
    # As recorded by a worker, and as the aggregator sees it after the wire
    wire = recorded.to_batch("run", "w0-s0", 0, 0, 0, 0).model_dump_json(by_alias=True)
    received = WindowStats()
    received.add_batch(MetricsBatch.model_validate_json(wire))
    percentiles = (0, 1, 50, 90, 95, 99, 99.9, 100)
    for histogram in (recorded.latency, received.latency):
        assert mean_us(histogram) == histogram.get_mean_value()
        assert percentiles_us(histogram, percentiles) == [
            histogram.get_value_at_percentile(p) for p in percentiles]


def test_old_seconds_are_compacted_and_a_late_batch_still_counts():
    aggregator = RunAggregator("run", [10.0] * 40)
    for second in range(30):
        aggregator.add(batch("a", second, second))
    assert aggregator.seconds[0]._frozen is not None  # compacted
    assert aggregator.seconds[29]._frozen is None
    aggregator.add(batch("b", 0, 0))  # late, for a compacted second
    assert aggregator.seconds[0].sent == 20
    assert aggregator.second_row(0)["p95_ms"] == pytest.approx(10, rel=0.01)
    assert aggregator.window(0, 30).sent == 310
