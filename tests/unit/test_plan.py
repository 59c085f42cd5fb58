"""Planning: exact arrival counts, shards that partition them, waves that join without gaps."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from stresslab.generation.plan import ArrivalSchedule, plan_run
from stresslab.scenario.profiles import LoadProfile, Phase
from stresslab.scenario.spec import parse_scenario

PHASE = TypeAdapter(Phase)


def profile(*raw: dict) -> LoadProfile:
    return LoadProfile([PHASE.validate_python(p) for p in raw])


def test_constant_rate_schedules_exactly_rate_times_duration():
    schedule = ArrivalSchedule(profile({"shape": "constant", "tps": 1000, "duration": 20}))
    assert schedule.total() == 20_000
    times = [t for _, t in schedule.arrivals(0, 20)]
    assert len(times) == 20_000
    gaps = {round(b - a, 9) for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {0.001}
    assert times[0] == pytest.approx(0.0005)


def test_ramp_schedules_its_integral():
    schedule = ArrivalSchedule(profile({"shape": "ramp", "from_tps": 0, "to_tps": 100,
                                        "duration": 10}))
    assert schedule.total() == 500
    per_second = [schedule.count(s, s + 1) for s in range(10)]
    assert per_second == pytest.approx([5, 15, 25, 35, 45, 55, 65, 75, 85, 95], abs=1)


@settings(max_examples=40, deadline=None)
@given(
    tps=st.floats(1, 3000),
    seconds=st.integers(1, 8),
    shards=st.integers(1, 7),
)
def test_shards_partition_the_arrivals(tps, seconds, shards):
    # Given a schedule split into shards
    schedule = ArrivalSchedule(profile(
        {"shape": "wave", "mean_tps": tps, "amplitude_tps": tps / 2, "period": 3,
         "duration": seconds}))
    # When each shard lists its arrivals
    by_shard = [list(schedule.arrivals(0, seconds, s, shards)) for s in range(shards)]
    indices = sorted(k for arrivals in by_shard for k, _ in arrivals)
    # Then together they are each global arrival exactly once, and counts agree
    assert indices == list(range(schedule.total()))
    for shard, arrivals in enumerate(by_shard):
        assert len(arrivals) == schedule.count(0, seconds, shard, shards)
        times = [t for _, t in arrivals]
        assert times == sorted(times)
        assert all(0 <= t < seconds for t in times)


@settings(max_examples=30, deadline=None)
@given(split=st.integers(1, 9), shards=st.integers(1, 4))
def test_waves_join_without_gaps_or_overlap(split, shards):
    schedule = ArrivalSchedule(profile(
        {"shape": "ramp", "from_tps": 10, "to_tps": 900, "duration": 10}))
    whole = [k for s in range(shards) for k, _ in schedule.arrivals(0, 10, s, shards)]
    parts = [k for s in range(shards) for k, _ in schedule.arrivals(0, split, s, shards)]
    parts += [k for s in range(shards) for k, _ in schedule.arrivals(split, 10, s, shards)]
    assert sorted(parts) == sorted(whole)


def test_zero_rate_schedules_nothing():
    schedule = ArrivalSchedule(profile({"shape": "constant", "tps": 0, "duration": 5}))
    assert schedule.total() == 0
    assert list(schedule.arrivals(0, 5)) == []


def spec(duration: str, workers: int = 3):
    return parse_scenario({
        "name": "p", "workers": workers,
        "phases": [{"shape": "constant", "tps": 10, "duration": duration}],
        "faults": [{"type": "latency", "at": "30s", "duration": "10s", "intensity": 100},
                   {"type": "throttle", "at": "5s", "duration": "10s"}],
    }, "test")


def test_plan_splits_long_runs_into_waves_of_at_most_ten_minutes():
    plan = plan_run(spec("25m"), "run-1")
    assert [(w.start_s, w.end_s) for w in plan.waves] == [(0, 600), (600, 1200), (1200, 1500)]
    assignments = plan.assignments(run_started_at=1234.0)
    assert len(assignments) == 9
    assert len({a.worker_id for a in assignments}) == 9
    assert {a.run_started_at for a in assignments} == {1234.0}
    assert plan.scheduled_total == 15_000
    assert sum(plan.expected_per_second) == pytest.approx(15_000)
    assert [f.type for f in plan.faults] == ["throttle", "latency"]


def test_plan_expected_per_second_covers_every_second():
    plan = plan_run(spec("90.5s", workers=1), "r")
    assert len(plan.expected_per_second) == math.ceil(90.5)
    assert plan.scheduled_total == 905
