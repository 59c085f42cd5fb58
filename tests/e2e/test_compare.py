"""`stresslab compare` on two real short runs against the bundled reference service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
SCENARIO = """\
name: compare-e2e
phases:
  - {name: steady, shape: constant, tps: 50, duration: 3s}
criteria: [lost == 0]
regressions: [error_rate +5pp, achieved_tps -20%, accuracy -10pp]
"""
# the same scenario with the reference service's store made slow for the whole run
SLOWER = SCENARIO.replace("regressions: [", "regressions: [p95_ms +10%, ") + """\
faults:
  - {type: slow_store, at: 0s, duration: 3s, intensity: 50}
"""


def stresslab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stresslab", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=170)


def test_two_real_runs_compared_from_the_store_with_their_merged_histograms(tmp_path):
    scenario, db = tmp_path / "compare-e2e.yaml", tmp_path / "runs.db"
    scenario.write_text(SCENARIO)
    summaries = []
    for name in ("a", "b"):
        run = stresslab("run", str(scenario), "--out", str(tmp_path / name), "--db", str(db),
                        "--quiet")
        assert run.returncode in (0, 1), run.stderr
        summaries.append(json.loads((tmp_path / name / "summary.json").read_text()))
    baseline, candidate = (s["run_id"] for s in summaries)

    out = tmp_path / "cmp"
    result = stresslab("compare", baseline, candidate, "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 rules from the candidate's stored scenario" in result.stdout
    data = json.loads((out / "compare.json").read_text())
    assert data["baseline"]["latency_from"] == "merged HDR histograms"
    metrics = {m["metric"]: m for m in data["metrics"]}
    # the histograms merged from the stored batches give the summary's own percentiles
    assert metrics["p95_ms"]["baseline"] == summaries[0]["latency_ms"]["p95"]
    assert metrics["p99_ms"]["candidate"] == summaries[1]["latency_ms"]["p99"]
    assert metrics["p95_ms"]["noise"]["test"] == "Kolmogorov-Smirnov"
    assert "<svg" in (out / "compare.html").read_text()

    itself = stresslab("compare", baseline, baseline, "--db", str(db), "--out",
                       str(tmp_path / "self"))
    assert itself.returncode == 0
    same = json.loads((tmp_path / "self" / "compare.json").read_text())
    assert not any(m["noise"] and m["noise"]["significant"] for m in same["metrics"])


def test_a_candidate_against_a_slowed_target_breaks_the_p95_rule_exit_1(tmp_path):
    db = tmp_path / "runs.db"
    ids = []
    for name, text in (("a", SCENARIO), ("slow", SLOWER)):
        scenario = tmp_path / name / "compare-e2e.yaml"
        scenario.parent.mkdir()
        scenario.write_text(text)
        run = stresslab("run", str(scenario), "--out", str(tmp_path / name / "out"), "--db",
                        str(db), "--quiet")
        assert run.returncode in (0, 1), run.stderr
        ids.append(json.loads((tmp_path / name / "out" / "summary.json").read_text())["run_id"])
    result = stresslab("compare", *ids, "--db", str(db), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN p95_ms +10%" in result.stdout
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["rule"] for r in data["rules"] if r["broken"]] == ["p95_ms +10%"]
    assert next(m for m in data["metrics"] if m["metric"] == "p95_ms")["noise"]["significant"]
