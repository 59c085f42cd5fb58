"""Criteria: k6-style threshold expressions, parsed strictly and judged per window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stresslab.criteria import METRICS, Criterion, judge, parse_threshold


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
