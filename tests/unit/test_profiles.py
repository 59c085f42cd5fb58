"""Load shapes: rate(t) is pure, bounded by the peak, and phases compose in sequence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from stresslab.scenario.durations import format_duration, parse_duration
from stresslab.scenario.profiles import (
    BurstShape,
    ChaosShape,
    LoadProfile,
    Phase,
    RampShape,
    WaveShape,
)

PHASE = TypeAdapter(Phase)

shapes = st.one_of(
    st.builds(lambda tps, d: {"shape": "constant", "tps": tps, "duration": d},
              st.floats(0, 20_000), st.floats(0.5, 3600)),
    st.builds(lambda a, b, d: {"shape": "ramp", "from_tps": a, "to_tps": b, "duration": d},
              st.floats(0, 20_000), st.floats(0, 20_000), st.floats(0.5, 3600)),
    st.builds(lambda base, burst, every, d: {
        "shape": "burst", "base_tps": base, "burst_tps": burst, "every": every,
        "burst_duration": every / 4, "duration": d,
    }, st.floats(0, 5000), st.floats(0, 20_000), st.floats(1, 600), st.floats(0.5, 3600)),
    st.builds(lambda mean, frac, period, d: {
        "shape": "wave", "mean_tps": mean, "amplitude_tps": mean * frac, "period": period,
        "duration": d,
    }, st.floats(0, 10_000), st.floats(0, 1), st.floats(1, 600), st.floats(0.5, 3600)),
    st.builds(lambda lo, span, seed, d: {
        "shape": "chaos", "min_tps": lo, "max_tps": lo + span, "seed": seed, "duration": d,
    }, st.floats(0, 5000), st.floats(0, 5000), st.integers(0, 2**31), st.floats(0.5, 3600)),
)


@given(st.lists(shapes, min_size=1, max_size=4), st.floats(-10, 20_000))
def test_rate_is_bounded_by_peak_and_zero_outside_the_run(raw, t):
    # Given any composition of phases
    profile = LoadProfile([PHASE.validate_python(p) for p in raw])
    # When the rate is read at any time
    rate = profile.rate(t)
    # Then it is never negative, never above the peak, and zero outside [0, duration)
    assert 0.0 <= rate <= profile.peak() + 1e-6
    if t < 0 or t >= profile.duration:
        assert rate == 0.0


@given(shapes, st.floats(0, 3600))
def test_rate_is_a_pure_function(raw, t):
    phase = PHASE.validate_python(raw)
    assert phase.rate(t) == phase.rate(t)


def test_phases_run_in_sequence():
    profile = LoadProfile([
        PHASE.validate_python({"shape": "ramp", "from_tps": 0, "to_tps": 100, "duration": "10s"}),
        PHASE.validate_python({"shape": "constant", "name": "hold", "tps": 100, "duration": "1m"}),
    ])
    assert profile.duration == 70
    assert profile.rate(5) == pytest.approx(50)
    assert profile.rate(30) == 100
    assert profile.phase_window("hold") == (10, 70)


def test_burst_is_high_only_inside_its_bursts():
    burst = BurstShape(shape="burst", base_tps=10, burst_tps=100, every=60, burst_duration=10,
                       offset=30, duration=300)
    assert burst.rate(0) == 10
    assert burst.rate(35) == 100
    assert burst.rate(45) == 10
    assert burst.rate(95) == 100


def test_wave_peaks_a_quarter_period_in():
    wave = WaveShape(shape="wave", mean_tps=100, amplitude_tps=50, period=40, duration=80)
    assert wave.rate(10) == pytest.approx(150)
    assert wave.rate(30) == pytest.approx(50)


def test_chaos_is_seeded_and_steps():
    a = ChaosShape(shape="chaos", min_tps=10, max_tps=1000, step=5, seed=7, duration=60)
    b = ChaosShape(shape="chaos", min_tps=10, max_tps=1000, step=5, seed=7, duration=60)
    c = ChaosShape(shape="chaos", min_tps=10, max_tps=1000, step=5, seed=8, duration=60)
    levels = [a.rate(t) for t in range(0, 60, 5)]
    assert levels == [b.rate(t) for t in range(0, 60, 5)]
    assert levels != [c.rate(t) for t in range(0, 60, 5)]
    assert a.rate(1) == a.rate(4.9)
    assert len(set(levels)) > 5


def test_scaling_multiplies_times_and_rates():
    burst = BurstShape(shape="burst", base_tps=1000, burst_tps=10000, every="3m",
                       burst_duration="30s", duration="15m")
    small = burst.scaled(time_scale=0.1, load_scale=0.2)
    assert (small.duration, small.every, small.burst_duration) == pytest.approx((90, 18, 3))
    assert (small.base_tps, small.burst_tps) == pytest.approx((200, 2000))


@pytest.mark.parametrize("raw, message", [
    ({"shape": "ramp", "to_tps": -1, "duration": 10}, "greater than or equal to 0"),
    ({"shape": "burst", "base_tps": 1, "burst_tps": 2, "every": 10, "burst_duration": 10,
      "duration": 60}, "burst_duration must be shorter than every"),
    ({"shape": "wave", "mean_tps": 10, "amplitude_tps": 20, "period": 5, "duration": 60},
     "amplitude_tps must not exceed mean_tps"),
    ({"shape": "zigzag", "duration": 10}, "does not match any of the expected tags"),
    ({"shape": "constant", "tps": 5, "duration": "soon"}, "not a duration"),
])
def test_bad_shapes_name_the_problem(raw, message):
    with pytest.raises(ValidationError, match=message):
        PHASE.validate_python(raw)


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), (90, 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25),
    ("1.5h", 5400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "1h-3m", True, None])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration():
    assert format_duration(65) == "01:05"
    assert format_duration(3725) == "1:02:05"


def test_ramp_is_linear():
    ramp = RampShape(shape="ramp", from_tps=100, to_tps=300, duration=100)
    assert [ramp.rate(t) for t in (0, 50, 100)] == pytest.approx([100, 200, 300])
