"""Degradation levels: thresholds, stepping up at once, stepping down only after a calm spell."""

from __future__ import annotations

import pytest

from stresslab.judgement.business import load_price_table
from stresslab.judgement.degradation import (
    DegradationTracker,
    SecondHealth,
    assess,
    health_of,
)
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.settings import DegradationPolicy
from stresslab.scenario.spec import parse_scenario

# the design brief's: errors > 10% critical, p99 > 5 s severe, CPU > 90%
POLICY = DegradationPolicy()
CALM = SecondHealth(error_rate=0.0, p99_ms=20.0, cpu_pct=30.0)
HOT = SecondHealth(error_rate=0.0, p99_ms=20.0, cpu_pct=95.0)
SLOW = SecondHealth(error_rate=0.0, p99_ms=6000.0, cpu_pct=30.0)
FAILING = SecondHealth(error_rate=0.5, p99_ms=20.0, cpu_pct=30.0)


def levels(readings: list[SecondHealth], policy: DegradationPolicy = POLICY) -> list[str]:
    tracker = DegradationTracker(policy)
    return [tracker.observe(second, reading) for second, reading in enumerate(readings)]


@pytest.mark.parametrize(("health", "level"), [
    (CALM, "NONE"),
    (HOT, "MODERATE"),
    (SLOW, "SEVERE"),
    (FAILING, "CRITICAL"),
    (SecondHealth(error_rate=0.5, p99_ms=9000.0, cpu_pct=99.0), "CRITICAL"),  # worst wins
    (SecondHealth(p99_ms=9000.0, cpu_pct=99.0), "SEVERE"),
    (SecondHealth(error_rate=0.10, p99_ms=5000.0, cpu_pct=90.0), "NONE"),  # strictly above
    (SecondHealth(), "NONE"),  # nothing measured is no evidence of trouble
])
def test_each_second_calls_for_the_level_of_its_worst_breach(health, level):
    assert assess(POLICY, health)[0] == level


def test_thresholds_come_from_the_policy():
    strict = DegradationPolicy(critical_error_rate=0.01, severe_p99_ms=100,
                               moderate_cpu_pct=50)
    assert assess(strict, SecondHealth(error_rate=0.02))[0] == "CRITICAL"
    assert assess(strict, SecondHealth(p99_ms=150.0))[0] == "SEVERE"
    assert assess(strict, SecondHealth(cpu_pct=60.0))[0] == "MODERATE"
    assert assess(POLICY, SecondHealth(error_rate=0.02, p99_ms=150.0, cpu_pct=60.0))[0] == "NONE"


def test_the_reason_names_the_breach():
    assert assess(POLICY, FAILING)[1] == "error rate 50.0% > 10.0%"
    assert assess(POLICY, SLOW)[1] == "p99 6,000 ms > 5,000 ms"
    assert assess(POLICY, HOT)[1] == "target CPU 95% > 90%"


@pytest.mark.parametrize(("breach", "level"), [
    (HOT, "MODERATE"), (SLOW, "SEVERE"), (FAILING, "CRITICAL"),
])
def test_a_breach_raises_the_level_in_the_same_second(breach, level):
    assert levels([CALM, breach]) == ["NONE", level]


def test_the_level_climbs_step_by_step_or_jumps_straight_to_critical():
    assert levels([HOT, SLOW, FAILING]) == ["MODERATE", "SEVERE", "CRITICAL"]
    assert levels([CALM, FAILING]) == ["NONE", "CRITICAL"]


@pytest.mark.parametrize("breach", [HOT, SLOW, FAILING])
def test_the_level_comes_down_only_after_recover_after_s_calm_seconds(breach):
    # Given a breach, then calm: the level holds for 4 calm seconds and drops on the 5th
    got = levels([breach] + [CALM] * 6)
    level = got[0]
    assert got == [level] * 5 + ["NONE", "NONE"]


def test_a_breach_during_recovery_restarts_the_count():
    got = levels([FAILING, CALM, CALM, CALM, FAILING] + [CALM] * 5)
    assert got == ["CRITICAL"] * 9 + ["NONE"]


def test_alternating_breaches_never_flap():
    # A target failing every other second stays CRITICAL however long it goes on
    assert set(levels([FAILING, CALM] * 20)) == {"CRITICAL"}


def test_it_steps_down_to_the_worst_level_the_calm_spell_still_called_for():
    # Given CRITICAL, then seconds that are only slow: it settles at SEVERE, not NONE
    got = levels([FAILING] + [SLOW] * 5 + [CALM] * 5)
    assert got == ["CRITICAL"] * 5 + ["SEVERE"] * 5 + ["NONE"]
    # And with a mix below the current level, the worst of the last recover_after_s seconds
    assert levels([FAILING, SLOW, HOT, CALM, HOT, CALM, CALM, CALM, CALM, CALM])[4:] == [
        "CRITICAL", "SEVERE", "MODERATE", "MODERATE", "MODERATE", "NONE"]


def test_a_lower_breach_while_degraded_does_not_raise_or_lower_at_once():
    assert levels([FAILING, SLOW, HOT]) == ["CRITICAL"] * 3


def test_a_short_recover_after_s_steps_down_the_next_calm_second():
    quick = DegradationPolicy(recover_after_s=1)
    assert levels([FAILING, CALM, SLOW, HOT, CALM], quick) == [
        "CRITICAL", "NONE", "SEVERE", "MODERATE", "NONE"]


def test_seconds_without_measurements_count_as_calm():
    assert levels([FAILING] + [SecondHealth()] * 5) == ["CRITICAL"] * 5 + ["NONE"]


def test_every_change_is_recorded_once_with_its_time_and_reason():
    tracker = DegradationTracker(POLICY)
    for second, reading in enumerate([CALM, HOT, HOT, FAILING] + [CALM] * 6):
        tracker.observe(second, reading)
    assert [c.as_dict() for c in tracker.changes] == [
        {"at_s": 2.0, "level": "MODERATE", "previous": "NONE",
         "reason": "target CPU 95% > 90%"},
        {"at_s": 4.0, "level": "CRITICAL", "previous": "MODERATE",
         "reason": "error rate 50.0% > 10.0%"},
        {"at_s": 9.0, "level": "NONE", "previous": "CRITICAL",
         "reason": "below CRITICAL for 5 s"},
    ]


def test_health_of_a_second_from_its_window():
    # Given a second with 90 answers in 10 ms, 10 errors and 5 timeouts out of 105 sent
    stats = WindowStats()
    stats.sent, stats.ok, stats.timeouts = 105, 90, 5
    stats.errors["connect"] = 10
    for _ in range(90):
        record_us(stats.latency, 0.010)
    health = health_of(stats, cpu_pct=42.0)
    assert health.error_rate == pytest.approx(15 / 105)
    assert health.p99_ms == pytest.approx(10.0, rel=0.01)
    assert health.cpu_pct == 42.0
    # And a second with nothing sent has nothing to judge
    assert health_of(WindowStats()) == SecondHealth()
    # And failures of the second before, answered in this one, do not push the rate past 1
    stats.errors["connect"] = 200
    assert health_of(stats).error_rate == 1.0


def test_the_live_feed_carries_the_level_in_ticks_and_says_why_once_per_change():
    spec = parse_scenario({"name": "d", "phases": [{"shape": "constant", "tps": 5,
                                                     "duration": 3}]}, "test")
    feed = LiveFeed(spec, describe_run(spec, "r1", "2026-11-27T00:00:00Z", "running", "t",
                                       [5.0] * 3), load_price_table(), usd_to_currency=1.0)
    aggregator = RunAggregator("r1", [5.0] * 3)
    # Given the level goes CRITICAL after the first second
    assert feed.tick(aggregator, 0)[0].degradation == "NONE"
    event = feed.set_degradation("CRITICAL", 1.0, reason="error rate 50.0% > 10.0%",
                                 applied=True)
    # Then one event says what, from what and why, and the next ticks carry it
    assert event is not None and event.event == "degradation_changed" and event.at_s == 1.0
    assert event.detail == {"level": "CRITICAL", "previous": "NONE",
                            "reason": "error rate 50.0% > 10.0%", "applied": True}
    assert feed.set_degradation("CRITICAL", 2.0, reason="again") is None
    assert feed.tick(aggregator, 1)[0].degradation == "CRITICAL"
    assert [e.event for e in feed.snapshot().events] == ["degradation_changed"]
