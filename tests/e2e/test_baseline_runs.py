"""`stresslab run --baseline` and `compare` on real short runs against the bundled reference
service: a first run finds no baseline, a half-length run is judged against the last passing
one and aligns with it phase by phase, a run against a slowed target breaks its p95 rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
SCENARIO = """\
name: baseline-e2e
phases:
  - {name: ramp, shape: ramp, from_tps: 10, to_tps: 50, duration: 4s}
  - {name: hold, shape: constant, tps: 50, duration: 4s}
criteria: [lost == 0]
regressions: [error_rate +5pp, achieved_tps -20%, accuracy -10pp]
"""
# every answer 1 s later: far beyond what a busy machine adds to the baseline's p95
SLOWER = SCENARIO.replace("regressions: [", "regressions: [p95_ms +10%, ") + """\
faults:
  - {type: slow_store, at: 0s, duration: 8s, intensity: 1000}
"""


def stresslab(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stresslab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=170)


def _run(tmp: Path, name: str, text: str, *flags: str) -> tuple[int, dict, str]:
    scenario = tmp / name / "baseline-e2e.yaml"
    scenario.parent.mkdir()
    scenario.write_text(text)
    out = tmp / name / "out"
    done = stresslab(tmp, "run", str(scenario), "--out", str(out), "--db", str(tmp / "runs.db"),
                     "--quiet", *flags)
    assert (out / "summary.json").is_file(), done.stderr
    return done.returncode, json.loads((out / "summary.json").read_text()), done.stdout


def _regression_cases(tmp: Path, name: str) -> dict[str, ET.Element]:
    suite = ET.parse(tmp / name / "out" / "junit.xml").getroot()
    return {case.get("name"): case for case in suite.findall("testcase")
            if case.get("classname") == "regressions"}


def test_baselines_judged_at_the_end_of_real_runs_and_phases_aligned(tmp_path):
    # Given no run yet: last-pass finds none, says so, and the run still runs and passes
    code, first, printed = _run(tmp_path, "first", SCENARIO, "--baseline", "last-pass")
    assert code == 0, printed
    assert first["regression"]["judged"] is False
    assert "no regression judged" in first["regression"]["note"]
    assert "regressions not judged" in printed
    assert [c.find("skipped") is not None
            for c in _regression_cases(tmp_path, "first").values()] == [True]
    assert [p["name"] for p in first["phases"]] == ["ramp", "hold"]

    # When a run half as long is judged against the last passing run
    code, half, printed = _run(tmp_path, "half", SCENARIO, "--baseline", "last-pass",
                               "--time-scale", "0.5")
    # Then it is judged against the first, every rule holds, one junit case per rule
    assert code == 0, printed
    check = half["regression"]
    assert (check["judged"], check["baseline_run_id"], check["regressed"]) == (
        True, first["run_id"], False)
    assert [r["rule"] for r in check["rules"]] == [
        "error_rate +5pp", "achieved_tps -20%", "accuracy -10pp"]
    cases = _regression_cases(tmp_path, "half")
    assert list(cases) == [r["rule"] for r in check["rules"]]
    assert all(case.find("failure") is None for case in cases.values())

    # And compare aligns the two phase by phase: no regression from the length alone
    result = stresslab(tmp_path, "compare", first["run_id"], half["run_id"], "--db",
                       str(tmp_path / "runs.db"), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [p["phase"] for p in data["phases"]] == ["ramp", "hold"]
    assert [p["candidate"] for p in data["phases"]] == [
        {"start_s": 0, "end_s": 2}, {"start_s": 2, "end_s": 4}]
    hold = {m["metric"]: m for m in data["phases"][1]["metrics"]}
    assert hold["duration_s"]["baseline"] == 4 and hold["duration_s"]["candidate"] == 2
    assert hold["achieved_tps"]["candidate"] == pytest.approx(50, rel=0.2)
    assert not data["regressed"]
    assert "phases aligned on the baseline" in (tmp_path / "cmp" / "compare.html").read_text()

    # When a run against a slowed target is judged against the first by its id
    code, slow, printed = _run(tmp_path, "slow", SLOWER, "--baseline", first["run_id"])
    # Then its p95 rule breaks: exit 1, said on screen, in summary.json and junit.xml
    assert code == 1, printed
    assert slow["regression"]["regressed"] is True
    assert [r["rule"] for r in slow["regression"]["rules"] if r["broken"]] == ["p95_ms +10%"]
    assert "BROKEN p95_ms +10%" in printed
    failure = _regression_cases(tmp_path, "slow")["p95_ms +10%"].find("failure")
    assert failure is not None and failure.get("message").startswith("p95_ms: baseline ")
