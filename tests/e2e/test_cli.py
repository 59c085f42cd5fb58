"""The command line as a user meets it: real processes, real runs, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


def stresslab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stresslab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=170)


def bad_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("args, message", [
    (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
    (["run", "smoke", "--tps", "-5", "--duration", "10s"], "--tps must be greater than 0"),
    (["run", "smoke", "--tps", "100"], "--tps and --duration go together"),
    (["run", "smoke", "--duration", "soon", "--tps", "1"], "not a duration"),
    (["run", "smoke", "--time-scale", "0"], "--time-scale must be greater than 0"),
    (["run", "smoke", "--workers", "0"], "--workers must be at least 1"),
    (["run", "smoke", "--workers", "65"], "workers: Input should be less than or equal to 64"),
    (["run", "smoke", "--target", "ftp://x"], "--target takes 'local' or an http(s) URL"),
    (["run", "smoke", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "smoke", "--baseline", " "], "--baseline takes a run id, a result folder"),
    (["run", "smoke", "--baseline", "no-such-run"],
     "'no-such-run' is not a file or folder, and there is no run store at"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_flags_exit_2_with_one_line(args, message, tmp_path):
    result = stresslab(*args, "--db", str(tmp_path / "db")) if args[0] == "run" and \
        "--bogus" not in args else stresslab(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed\n", "malformed YAML"),
    ("name: x\nphases: [{shape: constant, tps: 1, duration: 1}]\ncolour: red\n",
     "colour: Extra inputs are not permitted"),
    ("name: x\nphases: [{shape: constant, tps: -1, duration: 1}]\n",
     "phases.0.tps: Input should be greater than or equal to 0"),
])
def test_bad_scenario_files_exit_2_and_nothing_runs(tmp_path, text, message):
    for command in ("run", "validate"):
        result = stresslab(command, bad_file(tmp_path, text))
        assert result.returncode == 2
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_an_unreachable_target_exits_2_before_anything_runs(tmp_path):
    port = free_port()
    result = stresslab("run", "smoke", "--target", f"http://127.0.0.1:{port}/v1/score",
                       "--db", str(tmp_path / "db"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "is unreachable" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_scenarios_and_validate():
    listed = stresslab("scenarios")
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"peak-load", "sustained", "burst", "failure-recovery", "investor-demo", "smoke"} \
        <= set(names)
    checked = stresslab("validate", "scenarios/peak-load.yaml")
    assert checked.returncode == 0 and "ok (peak-load, 1800s" in checked.stdout


def test_a_reader_that_leaves_early_gets_no_traceback():
    # Given `stresslab scenarios | head -0`: the reader has gone before anything is written
    reader, writer = os.pipe()
    os.close(reader)
    listed = subprocess.run([sys.executable, "-m", "stresslab", "scenarios"], cwd=ROOT,
                            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(writer)
    # Then it ends quietly, as `ls | head` would
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr


@pytest.mark.slow
def test_smoke_at_1000_tps_for_20s_holds_the_rate_and_reconciles(tmp_path):
    # Given the acceptance run on this machine
    out, db = tmp_path / "out", tmp_path / "runs.db"
    result = stresslab("run", "smoke", "--tps", "1000", "--duration", "20s", "--out", str(out),
                       "--db", str(db), "--quiet")
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads((out / "summary.json").read_text())
    counts, load = summary["counts"], summary["load"]
    # Then the achieved rate is within 2% of 1,000 TPS and every count reconciles
    assert abs(load["achieved_tps_avg"] - 1000) <= 20
    assert counts["scheduled"] == counts["sent"] + counts["dropped"] == 20_000
    assert counts["sent"] == counts["ok"] + counts["errors"] + counts["timeouts"]
    assert counts["target_received"] == counts["sent"]
    assert summary["time_scale"] == summary["load_scale"] == 1.0
    assert result.returncode == (0 if summary["passed"] else 1)
    # And the report has its charts, the junit file a case per criterion
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 4
    assert (out / "junit.xml").read_text().count("<testcase") >= len(summary["criteria"])
    # And the run can be listed and its outputs written again from the store
    runs = stresslab("runs", "--db", str(db))
    assert summary["run_id"] in runs.stdout
    again = stresslab("report", summary["run_id"], "--out", str(tmp_path / "again"), "--db",
                      str(db))
    assert again.returncode == 0
    assert json.loads((tmp_path / "again" / "summary.json").read_text()) == summary


def test_a_run_that_cannot_go_on_says_why_in_one_line(tmp_path):
    # Given a run store that cannot be created
    result = stresslab("run", "smoke", "--quiet", "--db", "/proc/no-such/runs.db",
                       cwd=tmp_path)
    # Then the run fails in one line naming the reason, never a traceback
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("stresslab: run smoke-") and " failed: " in lines[-1]
    assert "No such file or directory: '/proc/no-such'" in lines[-1]
    assert "Traceback" not in result.stderr
