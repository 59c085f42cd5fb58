"""Criteria: k6-style threshold expressions, parsed strictly and judged per window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stresslab.judgement.criteria import judge
from stresslab.scenario.criteria import METRICS, Criterion, parse_threshold


@pytest.mark.parametrize("expr, metric, op, value", [
    ("p95_ms < 2000", "p95_ms", "<", 2000),
    ("error_rate<0.001", "error_rate", "<", 0.001),
    ("lost == 0", "lost", "==", 0),
    ("accuracy > 0.90", "accuracy", ">", 0.9),
    ("error_rate < 0.1%", "error_rate", "<", 0.001),
    ("p99_ms <= 5s", "p99_ms", "<=", 5000),
    ("achieved_tps >= 10_000", "achieved_tps", ">=", 10000),
    ("memory_growth_pct < 5%", "memory_growth_pct", "<", 5),
    ("dropped != 1", "dropped", "!=", 1),
])
def test_parses(expr, metric, op, value):
    threshold = parse_threshold(expr)
    assert (threshold.metric, threshold.op) == (metric, op)
    assert threshold.value == pytest.approx(value)


@pytest.mark.parametrize("expr, message", [
    ("p95 < 2000", "unknown metric 'p95'"),
    ("p95_ms << 2000", "cannot parse criterion"),
    ("p95_ms < fast", "cannot parse criterion"),
    ("error_rate < 5s", "only applies to \\*_ms metrics"),
    ("", "cannot parse criterion"),
])
def test_bad_expressions_say_what_is_wrong(expr, message):
    with pytest.raises(ValueError, match=message):
        parse_threshold(expr)


@given(st.sampled_from(sorted(METRICS)), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
       st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False))
def test_judge_agrees_with_python_comparison(metric, op, threshold, observed):
    criterion = Criterion(expr=f"{metric} {op} {threshold!r}")
    result = judge(criterion, {metric: observed})
    assert result.passed == eval(f"{observed!r} {op} {parse_threshold(criterion.expr).value!r}")
    assert result.observed == observed


def test_missing_observation_fails():
    result = judge(Criterion(expr="accuracy > 0.9"), {"accuracy": None})
    assert result.passed is False
    assert result.observed is None


def test_windows():
    assert Criterion.model_validate("lost == 0").window_label == "run"
    phase = Criterion.model_validate({"expr": "p95_ms < 1", "during": "sustain"})
    assert phase.window_label == "phase sustain"
    timed = Criterion.model_validate({"expr": "p95_ms < 1", "start": "1m", "end": "2m"})
    assert (timed.start, timed.end, timed.window_label) == (60, 120, "60s-120s")
    assert timed.scaled(0.5).window_label == "30s-60s"


@pytest.mark.parametrize("raw, message", [
    ({"expr": "p95_ms < 1", "during": "x", "start": 1}, "either 'during'"),
    ({"expr": "p95_ms < 1", "start": 10, "end": 5}, "'end' must be after 'start'"),
    ({"expr": "p95_ms < 1", "window": "x"}, "Extra inputs are not permitted"),
])
def test_bad_windows(raw, message):
    with pytest.raises(ValueError, match=message):
        Criterion.model_validate(raw)


# --------------------------------------------------------------------------- per fault


@pytest.mark.parametrize("raw, kind, which, offset, label", [
    ({"expr": "error_rate < 0.05", "during": "fault"}, "during", None, None, "during fault"),
    ({"expr": "error_rate < 0.05", "during": "fault:2"}, "during", 2, None, "during fault:2"),
    ({"expr": "error_rate < 0.05", "during": "fault: Lambda crash"}, "during", "Lambda crash",
     None, "during fault:Lambda crash"),
    ({"expr": "error_rate < 0.001", "after": "fault + 60s"}, "after", None, 60,
     "after fault + 60s"),
    ({"expr": "error_rate < 0.001", "after": "fault:3+1m30s"}, "after", 3, 90,
     "after fault:3 + 90s"),
    ({"expr": "error_rate < 0.001", "after": "fault"}, "after", None, None, "after fault"),
])
def test_fault_phases(raw, kind, which, offset, label):
    criterion = Criterion.model_validate(raw)
    assert criterion.fault is not None
    got_kind, ref = criterion.fault
    assert (got_kind, ref.which, ref.offset_s) == (kind, which, offset)
    assert criterion.window_label == label
    assert criterion.phase is None and not criterion.run_wide


def test_a_fault_offset_scales_with_the_timeline():
    criterion = Criterion.model_validate({"expr": "lost == 0", "after": "fault:1 + 60s"})
    scaled = criterion.scaled(0.05)
    assert scaled.after == "fault:1 + 3s"
    assert scaled.fault is not None and scaled.fault[1].offset_s == pytest.approx(3)


def test_a_phase_whose_name_starts_like_fault_is_still_a_phase():
    criterion = Criterion.model_validate({"expr": "p95_ms < 1", "during": "faulty"})
    assert criterion.fault is None and criterion.phase == "faulty"


@pytest.mark.parametrize("raw, message", [
    ({"expr": "p95_ms < 1", "after": "warm"}, "after: expected 'fault \\+ <duration>'"),
    ({"expr": "p95_ms < 1", "during": "fault + 60s"}, "during: an offset .* only applies to"),
    ({"expr": "p95_ms < 1", "after": "fault + 60s", "during": "fault"}, "give 'after' alone"),
    ({"expr": "p95_ms < 1", "after": "fault + 60s", "start": 5}, "give 'after' alone"),
    ({"expr": "p95_ms < 1", "during": "fault:0"}, "during: faults are numbered from 1"),
    ({"expr": "p95_ms < 1", "after": "fault + 5x"}, "after: cannot read the offset"),
    ({"expr": "p95_ms < 1", "during": "fault:"}, "during: expected 'fault', 'fault:<number>'"),
])
def test_bad_fault_phases_name_the_field(raw, message):
    with pytest.raises(ValueError, match=message):
        Criterion.model_validate(raw)


def test_a_plus_inside_a_fault_label_stays_in_the_label():
    criterion = Criterion.model_validate({"expr": "lost == 0", "during": "fault:CPU+memory"})
    assert criterion.fault is not None and criterion.fault[1].which == "CPU+memory"
