"""A run's seconds behind one accessor: a long run holds only the live window in memory, its
closed seconds spilled to the SQLite store, and judges them exactly as if all were held."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from stresslab.local.store import SqliteRunStore
from stresslab.measurement.aggregate import RunAggregator, aggregator_from_batches
from stresslab.measurement.metrics import MetricsBatch, WindowStats, record_us
from stresslab.measurement.seconds import (
    HOT_SECONDS,
    Seconds,
    SpilledSeconds,
    decode_stats,
    encode_stats,
)
from tests.unit.summary_runs import GOLDEN_RUNS, golden_summary

GOLDEN = Path(__file__).with_name("summary_golden")


def _batch(rng: random.Random, worker: str, seq: int, window: int) -> MetricsBatch:
    stats = WindowStats()
    stats.sent = stats.scheduled = rng.randint(5, 40)
    stats.errors["connect"] = rng.randint(0, 2)
    stats.ok = stats.sent - stats.errors["connect"]
    for i in range(stats.ok):
        record_us(stats.latency, rng.uniform(0.002, 0.3))
        record_us(stats.lag, rng.uniform(0.0, 0.01))
        fraud = i % 6 == 0
        stats.record_decision("block" if fraud else "approve", fraud, fraud,
                              "card_testing" if fraud else "normal", rng.uniform(1, 900))
        stats.record_agent("velocity", rng.uniform(0.001, 0.02), failed=i % 11 == 0)
    stats.record_usage(12, 3)
    return stats.to_batch("run", worker, 0, int(worker[-1]), seq, window)


def _stream(seconds: int, workers: int = 2) -> list[MetricsBatch]:
    """Each worker's batch per second, in arrival order, some late by a few seconds."""
    rng = random.Random(11)
    batches = [_batch(rng, f"w0-s{w}", s, s) for s in range(seconds) for w in range(workers)]
    late = [b for b in batches if b.worker_id == "w0-s1" and b.window % 7 == 3]
    on_time = [b for b in batches if b not in late]
    for batch in late:  # arrives after HOT_SECONDS + 3 more seconds: its second has closed
        at = min(len(on_time), on_time.index(next(
            b for b in on_time if b.window >= min(batch.window + HOT_SECONDS + 3,
                                                   seconds - 1))))
        on_time.insert(at, batch)
    return on_time


def _spilled(tmp_path: Path, run_id: str = "run") -> tuple[SqliteRunStore, SpilledSeconds]:
    store = SqliteRunStore(tmp_path / "runs.db")
    return store, SpilledSeconds(store.seconds_spill(run_id))


def test_a_window_is_encoded_and_decoded_exactly() -> None:
    stats = WindowStats.from_batch(_batch(random.Random(3), "w0-s0", 0, 0))
    again = decode_stats(encode_stats(stats))
    assert encode_stats(again) == encode_stats(stats)
    assert again.to_batch("r", "w", 0, 0, 0, 0) == stats.to_batch("r", "w", 0, 0, 0, 0)
    assert again.batches == stats.batches == 1


def test_a_long_run_holds_only_the_live_window_in_memory(tmp_path: Path) -> None:
    # Given a run of 300 seconds from two workers, some batches late, aggregated with its
    # closed seconds spilled to the store
    store, seconds = _spilled(tmp_path)
    aggregator = RunAggregator("run", [50.0] * 300, seconds)
    most = 0
    # When its batches come in, second after second
    for batch in _stream(300):
        aggregator.add(batch)
        most = max(most, seconds.resident)
    # Then no more than the live window was ever held, and every second is still there
    assert most <= HOT_SECONDS + 2
    assert len(seconds) == 300 and list(seconds) == list(range(300))
    store.close()


def test_spilled_seconds_are_judged_as_the_held_ones_are(tmp_path: Path) -> None:
    # Given the same batches aggregated with every second held and with closed ones spilled
    batches = _stream(60)
    held = RunAggregator("run", [50.0] * 60)
    held.add_all(batches)
    store, seconds = _spilled(tmp_path)
    spilled = RunAggregator("run", [50.0] * 60, seconds)
    spilled.add_all(batches)
    # Then every second, every window, the peak and the drift are the same
    assert list(spilled.seconds) == list(held.seconds)
    for second in range(61):
        assert spilled.second_row(second) == held.second_row(second)
    for start, end in ((0, 60), (5, 17), (40, 61), (59, 60)):
        assert encode_stats(spilled.window(start, end)) == encode_stats(held.window(start, end))
        assert spilled.latency_drift_pct(start, end) == held.latency_drift_pct(start, end)
    assert spilled.seconds.peak_sent() == held.seconds.peak_sent() > 0
    assert encode_stats(spilled.totals) == encode_stats(held.totals)
    store.close()


@pytest.mark.parametrize("run", GOLDEN_RUNS)
def test_a_summary_from_spilled_seconds_is_the_golden_file(run: str, tmp_path: Path) -> None:
    # Given the golden runs (30 s) with their closed seconds spilled to a real store
    store, seconds = _spilled(tmp_path, "r-golden")
    summary = golden_summary(run, seconds)
    # Then the summary is byte for byte the golden file, though most seconds were spilled
    assert seconds.resident <= HOT_SECONDS + 1
    assert json.dumps(summary, indent=2) + "\n" == (GOLDEN / f"{run}.json").read_text()
    store.close()


def test_a_rebuilt_aggregator_starts_a_fresh_spill(tmp_path: Path) -> None:
    # Given a run aggregated with spilled seconds, then rebuilt from its batches (a restart)
    batches = _stream(40)
    store, seconds = _spilled(tmp_path)
    first = RunAggregator("run", [50.0] * 40, seconds)
    first.add_all(batches)
    rebuilt = aggregator_from_batches("run", [50.0] * 40, batches,
                                      SpilledSeconds(store.seconds_spill("run")))
    # Then it counts each batch once, as an aggregator holding every second does
    held = aggregator_from_batches("run", [50.0] * 40, batches)
    assert [rebuilt.second_row(s) for s in range(40)] == [held.second_row(s) for s in range(40)]
    assert rebuilt.window(0, 40).sent == held.window(0, 40).sent
    store.close()


def test_the_in_memory_seconds_keep_closed_ones_frozen() -> None:
    seconds = Seconds()
    for second in range(30):
        stats = WindowStats()
        stats.sent = second
        seconds.merge(second, stats)
    assert seconds.resident == 30
    assert seconds[0]._frozen is not None and seconds[29]._frozen is None
    assert seconds.peak_sent() == 29


def test_the_batches_already_counted_are_held_as_runs_of_seqs() -> None:
    # Given two workers' batches over 500 seconds, some redelivered and some out of order
    aggregator = RunAggregator("run", [50.0] * 500)
    batches = _stream(500)
    assert aggregator.add_all(batches) == 1000
    # When they are all delivered again
    assert aggregator.add_all(reversed(batches)) == 0
    # Then each counted once, and what remembers them holds no key one by one
    assert aggregator.duplicates == 1000
    assert aggregator._seen.held == 0 and len(aggregator._seen) == 1000


def test_the_runner_sweeps_its_garbage_every_ten_closed_seconds() -> None:
    from stresslab.local.garbage import GarbageSweep

    calls: list[str] = []

    def collect() -> int:
        calls.append("collect")
        return 3

    sweep = GarbageSweep(collect, lambda: calls.append("freeze"), every_s=10)
    sweep.started()
    for second in [0, 1, 5, 9, 10, 11, 19, 20, 35, 36]:
        sweep.second_closed(second)
    assert calls == ["collect", "freeze", "collect", "collect", "collect"]
    assert sweep.sweeps == 3 and sweep.collected == 9
