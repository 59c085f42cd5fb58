"""Hostile scenario files: `stresslab validate FILE` either accepts one or exits 2 with one line.

Hypothesis writes near-valid scenarios (right shape, wrong values: inf/nan, huge and negative
numbers, wrong types, unknown keys, markup and control characters) and raw garbage (broken
YAML, arbitrary text and bytes) to a file and runs the CLI's main in-process on it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stresslab.cli import main

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_files = itertools.count()

hostile_text = st.sampled_from([
    "", " ", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\x00", "a\nb",
    "\u202e", "名前", "🔥" * 3, "x" * 5000, "${env:HOME}", "{{ 7*7 }}", "'; DROP TABLE runs;--",
]) | st.text(max_size=40)
numbers = st.sampled_from([
    0, -1, 1, 0.5, 10, 1000, 10**6, 10**30, 10**400, -(10**30), 1e308, -0.0,
    math.inf, -math.inf, math.nan, 1e-320,
]) | st.integers(-(10**6), 10**7) | st.floats(allow_nan=True, allow_infinity=True)
durations = numbers | st.sampled_from([
    "30s", "5m", "1h30m", "250ms", "inf", "nan", "-5s", "1e400", "999999999h", "s", "5 m",
    "1.5.5s", "", "Infinity", ".inf",
])
anything = st.recursive(
    st.none() | st.booleans() | numbers | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the given value, sometimes anything at all."""
    return st.one_of(value, value, value, anything)


tps = _maybe(numbers)
phase = st.one_of(
    st.fixed_dictionaries({"shape": st.sampled_from(["constant", "sustained"]),
                           "tps": tps, "duration": _maybe(durations)},
                          optional={"name": _maybe(hostile_text)}),
    st.fixed_dictionaries({"shape": st.sampled_from(["ramp", "ramp-up", "ramp-down"]),
                           "from_tps": tps, "to_tps": tps, "duration": _maybe(durations)}),
    st.fixed_dictionaries({"shape": st.just("burst"), "base_tps": tps, "burst_tps": tps,
                           "every": _maybe(durations), "burst_duration": _maybe(durations),
                           "duration": _maybe(durations)},
                          optional={"offset": _maybe(durations)}),
    st.fixed_dictionaries({"shape": _maybe(st.sampled_from(["wave", "chaos", "square"]))},
                          optional={"duration": _maybe(durations), "min_tps": tps,
                                    "max_tps": tps, "period": _maybe(durations),
                                    "step": _maybe(durations), "seed": numbers}),
    anything,
)
criterion = st.one_of(
    st.sampled_from(["p95_ms < 100", "error_rate < 0.01", "lost == 0", "p99_ms < inf",
                     "accuracy > nan", "p95_ms <", "p95_ms < 1e400", "< 5", "bogus > 1",
                     "p95_ms << 3", "error_rate < 1%"]),
    st.fixed_dictionaries({"expr": _maybe(st.sampled_from(["p95_ms < 200", "lost == 0"]))},
                          optional={"during": _maybe(hostile_text),
                                    "start": _maybe(durations), "end": _maybe(durations)}),
    hostile_text,
)
fault = st.fixed_dictionaries(
    {"type": _maybe(st.sampled_from(["agent_errors", "latency", "throttle", "agent_down",
                                     "slow_store", "drop_connections", "meteor"])),
     "at": _maybe(durations), "duration": _maybe(durations)},
    optional={"intensity": numbers, "label": hostile_text, "target": _maybe(hostile_text)},
)
known = st.fixed_dictionaries(
    {"name": _maybe(st.sampled_from(["fuzz", "a", "x" * 64, "x" * 65, "Fuzz", "-a", ""])),
     "phases": _maybe(st.lists(phase, max_size=3))},
    optional={
        "description": hostile_text,
        "criteria": _maybe(st.lists(criterion, max_size=3)),
        "faults": _maybe(st.lists(fault, max_size=2)),
        "workers": numbers, "seed": numbers, "time_scale": numbers, "load_scale": numbers,
        "reporting_currency": _maybe(st.sampled_from(["USD", "EUR", "XXX", "usd"])),
        "http": _maybe(st.fixed_dictionaries({}, optional={
            "timeout": _maybe(durations), "max_lag": _maybe(durations),
            "max_in_flight": numbers, "connections": numbers, "max_body_bytes": numbers})),
        "response": _maybe(st.fixed_dictionaries({}, optional={
            "decision_field": hostile_text, "max_decisions": numbers, "max_agents": numbers,
            "max_name_length": numbers})),
        "mix": anything, "degradation": anything, "capacity_search": anything,
        "resilience": anything,
    },
)
unknown_keys = st.dictionaries(hostile_text.filter(lambda k: k not in {"name", "phases"}),
                               anything, max_size=2)
scenario = st.one_of(known, known, known, st.tuples(known, unknown_keys).map(
    lambda parts: {**parts[1], **parts[0]}))


def _yaml(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


broken_yaml = st.one_of(
    st.sampled_from([
        "", "---", "~", "[]", "42", "name: [unclosed", "name: 'x\n  phases: -", "\t- a",
        "a: &x [*x]", "!!python/object:os.system {}", "key: !!binary AAA", "%YAML 9.9\n---\n",
        "phases:\n  - shape: constant\n    tps: .nan\n    duration: .inf\nname: x\n",
        "name: x\nphases:\n  - {shape: constant, tps: 1e999, duration: 10}\n",
        "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n",
        "{" * 200, "[" * 5000, "name: x\nname: y\n",
    ]),
    st.text(max_size=200),
    scenario.map(_yaml).flatmap(
        lambda text: st.tuples(st.integers(0, len(text)), st.text(max_size=5)).map(
            lambda cut: text[: cut[0]] + cut[1] + text[cut[0] + 1:])
    ),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def validate(folder: Path, content: str | bytes) -> tuple[int, str]:
    path = folder / f"scenario-{next(_files)}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["validate", str(path)])
        except SystemExit as exited:  # argparse's own errors
            code = int(exited.code or 0)
    path.unlink()
    return code, err.getvalue()


def assert_accepted_or_one_line(code: int, stderr: str, content: object) -> None:
    assert "Traceback" not in stderr, f"traceback for {content!r}:\n{stderr}"
    if code == 0:
        return
    assert code == 2, f"exit {code} for {content!r}: {stderr}"
    assert stderr.endswith("\n") and stderr.count("\n") == 1, (
        f"not exactly one line for {content!r}: {stderr!r}"
    )
    assert stderr.startswith("stresslab: error: ") and len(stderr.strip()) > len(
        "stresslab: error:"), stderr


@FUZZ
@given(document=scenario)
def test_near_valid_scenarios_validate_or_fail_in_one_line(folder: Path, document: Any) -> None:
    code, stderr = validate(folder, _yaml(document))
    assert_accepted_or_one_line(code, stderr, document)


@FUZZ
@given(text=broken_yaml)
def test_broken_yaml_fails_in_one_line(folder: Path, text: str) -> None:
    code, stderr = validate(folder, text)
    assert_accepted_or_one_line(code, stderr, text)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_fail_in_one_line(folder: Path, raw: bytes) -> None:
    code, stderr = validate(folder, raw)
    assert_accepted_or_one_line(code, stderr, raw)


VALID = """\
name: x
phases:
  - {{shape: constant, tps: {tps}, duration: {phase_duration}}}
faults:
  - {{type: latency, at: {at}, duration: {duration}, intensity: {intensity}}}
http: {{timeout: {timeout}}}
time_scale: {time_scale}
"""
VALUES = {"tps": "10", "phase_duration": "60", "at": "10", "duration": "5", "intensity": "1.0",
          "timeout": "5", "time_scale": "1"}


def test_the_valid_template_validates(folder: Path) -> None:
    assert validate(folder, VALID.format(**VALUES)) == (0, "")


@pytest.mark.parametrize("key", sorted(VALUES))
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "inf", "NaN", "1e999"])
def test_inf_and_nan_are_refused_by_name(folder: Path, key: str, value: str) -> None:
    # Given a valid scenario with one number replaced by inf or NaN
    text = VALID.format(**{**VALUES, key: value})
    # When it is validated
    code, stderr = validate(folder, text)
    # Then it exits 2 in one line naming the field
    assert code == 2, f"{key}: {value} accepted"
    assert_accepted_or_one_line(code, stderr, text)
    assert key.removeprefix("phase_") in stderr, stderr
