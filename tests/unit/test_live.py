"""The live dashboard message: ticks computed from the aggregator, events on transitions."""

from __future__ import annotations

import json

import pytest

from stresslab.judgement.business import load_price_table
from stresslab.measurement import live_feed
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import describe_run, parse_client_message
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.spec import parse_scenario

SPEC = parse_scenario({
    "name": "live",
    "reporting_currency": "EUR",
    "phases": [{"name": "a", "shape": "constant", "tps": 10, "duration": 2},
               {"name": "b", "shape": "constant", "tps": 10, "duration": 2}],
    "criteria": ["error_rate < 0.1", {"expr": "p95_ms < 50", "during": "a"}],
    "faults": [{"type": "latency", "target": "geo", "at": 1, "duration": 1, "label": "slow"}],
}, "test")


def window(ok: int, errors: int = 0, latency_s: float = 0.01) -> WindowStats:
    stats = WindowStats()
    stats.scheduled = stats.sent = ok + errors
    stats.ok = ok
    stats.errors["http_5xx"] = errors
    for i in range(ok):
        record_us(stats.latency, latency_s)
        stats.record_decision("block" if i % 5 == 0 else "approve", i % 5 == 0, i % 5 == 0,
                              "card_testing" if i % 5 == 0 else "normal", 100.0)
        stats.record_agent("geo", 0.002, failed=False)
    return stats


def feed() -> tuple[LiveFeed, RunAggregator]:
    run = describe_run(SPEC, "r1", "2026-11-27T00:00:00Z", "running", "http://t", [10.0] * 4)
    live = LiveFeed(SPEC, run, load_price_table(), usd_to_currency=0.5)
    return live, RunAggregator("r1", [10.0] * 4)


def test_hero_numbers_come_from_the_run():
    live, aggregator = feed()
    aggregator.add(window(10).to_batch("r1", "w", 0, 0, 0, 0))
    tick, events = live.tick(aggregator, 0)
    assert tick.hero.transactions_processed == 10
    assert tick.hero.fraud_blocked == 2
    assert tick.hero.money_saved == pytest.approx(2 * 100 * 0.5)
    assert tick.hero.currency == "EUR"
    assert tick.hero.ai_accuracy == 100.0
    assert tick.hero.current_tps == 10
    assert tick.hero.uptime_pct == 100.0
    assert tick.agents[0].name == "geo" and tick.agents[0].health == "healthy"
    assert tick.cost.usd_per_hour == pytest.approx(tick.cost.cost_per_transaction / 0.5 * 36000)
    assert events == []
    body = json.loads(tick.to_json())
    assert body["schema"] == "stresslab.live/v1" and body["type"] == "tick"


def test_criteria_breach_and_recovery_are_events_once_each():
    live, aggregator = feed()
    aggregator.add(window(5, errors=5).to_batch("r1", "w", 0, 0, 0, 0))
    _, events = live.tick(aggregator, 0)
    assert [e.event for e in events] == ["criterion_breached"]
    assert events[0].detail["criterion"] == "error_rate < 0.1 [run]"
    aggregator.add(window(10).to_batch("r1", "w", 0, 0, 1, 1))
    _, events = live.tick(aggregator, 1)
    assert events == []  # still breached: 5 of 20 failed; no repeated event
    for second in (2, 3):
        aggregator.add(window(100).to_batch("r1", "w", 0, 0, second, second))
    _, events = live.tick(aggregator, 2)
    assert [e.event for e in events] == ["criterion_recovered"]


def test_a_phase_criterion_is_judged_once_its_phase_is_over():
    live, aggregator = feed()
    aggregator.add(window(10, latency_s=0.2).to_batch("r1", "w", 0, 0, 0, 0))
    _, events = live.tick(aggregator, 0)
    assert events == []
    aggregator.add(window(10, latency_s=0.2).to_batch("r1", "w", 0, 0, 1, 1))
    _, events = live.tick(aggregator, 1)
    assert events == []  # judged once the grace second after the phase has closed
    aggregator.add(window(10).to_batch("r1", "w", 0, 0, 2, 2))
    _, events = live.tick(aggregator, 2)
    assert [e.detail["criterion"] for e in events] == ["p95_ms < 50 [phase a]"]


def test_snapshot_carries_history_and_events():
    live, aggregator = feed()
    live.event("run_started", 0, status="running")
    aggregator.add(window(3).to_batch("r1", "w", 0, 0, 0, 0))
    live.tick(aggregator, 0)
    assert live.set_degradation("NONE", 1) is None
    assert live.set_degradation("SEVERE", 1).detail == {"level": "SEVERE", "previous": "NONE"}
    snapshot = json.loads(live.snapshot().to_json())
    assert snapshot["type"] == "snapshot" and len(snapshot["history"]) == 1
    assert [e["event"] for e in snapshot["events"]] == ["run_started", "degradation_changed"]
    assert snapshot["run"]["faults"][0]["label"] == "slow"
    assert [p["name"] for p in snapshot["run"]["phases"]] == ["a", "b"]


@pytest.mark.parametrize("text, message", [
    ("nope", "not JSON"),
    ('{"type": "shout"}', "type"),
    ('{"type": "ping", "x": 1}', "x"),
    ("x" * 5000, "too large"),
])
def test_bad_client_messages(text, message):
    with pytest.raises(ValueError, match=message):
        parse_client_message(text)


def test_good_client_message():
    assert parse_client_message('{"type": "resync"}').type == "resync"


def test_lost_is_not_judged_while_answers_are_still_in_flight():
    spec = parse_scenario({"name": "l", "phases": [{"shape": "constant", "tps": 10,
                                                     "duration": 3}],
                           "criteria": ["lost == 0"]}, "test")
    run = describe_run(spec, "r1", "t", "running", "u", [10.0] * 3)
    live = LiveFeed(spec, run, load_price_table(), 1.0)
    aggregator = RunAggregator("r1", [10.0] * 3)
    in_flight = window(5)
    in_flight.sent += 5  # sent, not answered yet
    aggregator.add(in_flight.to_batch("r1", "w", 0, 0, 0, 0))
    _, events = live.tick(aggregator, 0)
    assert events == []


def test_a_second_ticked_again_is_a_correction_that_replaces_it_and_counts_once():
    # Given seconds 0 and 1 ticked, both up
    live, aggregator = feed()
    aggregator.add(window(10).to_batch("r1", "w", 0, 0, 0, 0))
    aggregator.add(window(10).to_batch("r1", "w", 0, 0, 1, 1))
    live.tick(aggregator, 0)
    assert live.tick(aggregator, 1)[0].hero.uptime_pct == 100.0
    # When a batch merged after it was ticked brings second 1 five failures, and it is ticked
    # again
    aggregator.add(window(0, errors=5).to_batch("r1", "w2", 0, 1, 0, 1))
    tick, _ = live.tick(aggregator, 1)
    # Then the tick carries the new totals, replaces the first in the history, and second 1
    # counts once in the uptime, as it is now (down: 5 failed of 15)
    assert tick.totals["errors"] == 5 and tick.window["sent"] == 15
    assert [t.second for t in live.history] == [0, 1]
    assert live.history[-1].totals["errors"] == 5
    assert tick.hero.uptime_pct == 50.0


def test_criteria_over_the_same_seconds_share_one_pass_over_the_histograms(monkeypatch):
    # Given three criteria on the whole run and two on one phase
    spec = parse_scenario({
        "name": "shared", "phases": SPEC.model_dump()["phases"],
        "criteria": ["error_rate < 0.1", "p95_ms < 500", "p99_ms < 900",
                     {"expr": "p95_ms < 50", "during": "a"},
                     {"expr": "p99_ms < 90", "during": "a"}],
    }, "test")
    run = describe_run(spec, "r1", "2026-11-27T00:00:00Z", "running", "http://t", [10.0] * 4)
    live, aggregator = LiveFeed(spec, run, load_price_table(), 1.0), RunAggregator("r1", [10.0] * 4)
    passes: list[float] = []
    real = live_feed.window_metrics
    monkeypatch.setattr(live_feed, "window_metrics",
                        lambda stats, seconds, *a, **k: passes.append(seconds) or
                        real(stats, seconds, *a, **k))
    for second in range(3):
        aggregator.add(window(10, latency_s=0.2).to_batch("r1", "w", 0, 0, second, second))
    # When the tick after the phase is built
    _, events = live.tick(aggregator, 2)
    # Then the run's metrics and the phase's are each computed once, and every criterion judged
    assert passes == [3, 2]
    assert sorted(e.detail["criterion"] for e in events) == [
        "p95_ms < 50 [phase a]", "p99_ms < 90 [phase a]"]
