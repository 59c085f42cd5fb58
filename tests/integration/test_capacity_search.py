"""Capacity search for real: constant-rate steps against a live target, a capacity that
constant-rate runs confirm, and the command line around it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stresslab.local.capacity_runner import CapacityRun, CapacityRunOptions
from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.scenario.spec import parse_scenario

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

# Two slots of exactly 9 ms per agent: 222 TPS. Below it nothing waits; above it every second
# adds to the queue, so p95 climbs with the rate and time.
CAPACITY_TPS = 2 / 0.009
LOW_CAPACITY_TARGET = {
    "agent_defaults": {"concurrency": 2, "service_time_ms": 9, "service_time_sigma": 0}
}


@pytest.fixture
async def small_target(tmp_path: Path) -> AsyncIterator[str]:
    """The reference service with a capacity of about 222 TPS, on loopback."""
    config = tmp_path / "target.json"
    config.write_text(json.dumps(LOW_CAPACITY_TARGET))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reference_service", "--host", "127.0.0.1", "--port", "0",
        "--processes", "1",  # the capacity above is one process's
        "--config", str(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    url = None
    async with asyncio.timeout(30):
        while url is None:
            line = (await process.stdout.readline()).decode()
            assert line, "the target exited before listening"
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1).rstrip("/") if match else None
    drain = asyncio.create_task(process.stdout.read())
    yield f"{url}/v1/score"
    process.terminate()
    await process.wait()
    drain.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await drain


def small_search_scenario() -> dict[str, object]:
    # Every rate the search tries lies far from the knee at 222 TPS - 140 (63% busy), 400 and
    # the bisection's 270 (122%) - so a stall of this shared machine cannot flip a verdict; the
    # search's arithmetic near the knee is covered by the unit tests and the counted CLI test.
    # The generator's lag bound is loose for the same reason; its own test is below.
    return {
        "name": "capacity-it",
        "workers": 2,
        "phases": [{"shape": "constant", "tps": 100, "duration": 5}],
        "criteria": ["p95_ms < 500", "error_rate < 1%", "lost == 0"],
        "capacity_search": {"start_tps": 140, "step_tps": 260, "max_tps": 400,
                            "step_duration": "5s", "refine_steps": 1, "max_lag_p99_ms": 1000},
    }


async def test_the_capacity_found_is_what_constant_rate_runs_confirm(tmp_path, small_target):
    # Given a target that holds about 222 TPS and a short, coarse search
    spec = parse_scenario(small_search_scenario(), "test")
    assert spec.capacity_search is not None
    out, db = tmp_path / "out", tmp_path / "runs.db"
    search = CapacityRun(CapacityRunOptions(
        spec=spec, search=spec.capacity_search, target_url=small_target, out_dir=out,
        db_path=db, progress=False,
    ))
    # When the search runs
    result = await search.execute()
    report = result.report
    # Then 140 TPS passes, 400 breaks a criterion, the bisection's 270 too: the capacity found
    # is 140 TPS, and the target's real capacity lies between it and the first failure
    assert [(s["tps"], s["stage"], s["verdict"]) for s in report["steps"]] == [
        (140, "step-up", "passed"), (400, "step-up", "failed"), (270, "refine", "failed"),
    ], json.dumps(report["steps"], indent=1)
    assert (report["outcome"], report["capacity_tps"], report["first_failing_tps"]) == (
        "found", 140, 270)
    assert report["capacity_tps"] <= CAPACITY_TPS < report["first_failing_tps"]
    assert result.exit_code == 0 and report["generator_limited"] is False
    # And every step was a real run of its rate that reconciles, with nothing dropped
    for step in report["steps"]:
        summary = json.loads((out / step["outputs"] / "summary.json").read_text())
        assert summary["run_id"] == step["run_id"] and summary["target"] == small_target
        assert summary["counts"]["scheduled"] == step["tps"] * 5
        assert summary["counts"]["reconciled"] and step["dropped"] == 0
        assert step["observed"]["p95_ms"] == summary["latency_ms"]["p95"]
    assert report["steps"][2]["failed_criteria"][0].startswith("p95_ms < 500")
    # And capacity.json and capacity.html are written
    assert json.loads((out / "capacity.json").read_text()) == report
    assert (out / "capacity.html").read_text().count("<svg") == 3

    # When the scenario runs at the capacity found, and at the first failing rate
    confirm = await LocalRun(LocalRunOptions(
        spec=spec.at_constant_rate(140, 5), target_url=small_target, db_path=db, progress=False,
    )).execute()
    above = await LocalRun(LocalRunOptions(
        spec=spec.at_constant_rate(270, 5), target_url=small_target, db_path=db, progress=False,
    )).execute()
    # Then the first passes every criterion and the second does not
    assert confirm.summary["passed"] and confirm.exit_code == 0, confirm.summary["criteria"]
    assert not above.summary["passed"] and above.exit_code == 1
    assert "p95_ms < 500" in [c["expr"] for c in above.summary["criteria"] if not c["passed"]]


# -- the command line, against the bundled reference service -----------------------------------


def stresslab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stresslab", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=200)


def scenario_file(tmp_path: Path, search: str, http: str = "{}") -> str:
    path = tmp_path / "capacity.yaml"
    path.write_text(
        "name: capacity-cli\n"
        "workers: 1\n"
        "phases: [{shape: constant, tps: 100, duration: 2}]\n"
        "criteria: [lost == 0]\n"
        f"http: {http}\n"
        f"capacity_search: {search}\n"
    )
    return str(path)


# `sent < 700` over 2 s steps breaks at exactly 350 TPS whatever the machine: the open model
# sends rate x duration, so the search's arithmetic is checked end to end without timing luck.
COUNTED = ("{start_tps: 100, step_tps: 150, max_tps: 400, step_duration: 2s, refine_steps: 1, "
           "max_lag_p99_ms: 1000, criteria: ['sent < 700', 'lost == 0']}")


def test_stresslab_run_searches_reuses_one_target_and_prints_the_confirming_command(tmp_path):
    # Given a scenario with a capacity search
    scenario, out, db = scenario_file(tmp_path, COUNTED), tmp_path / "out", tmp_path / "db"
    # When it is run
    result = stresslab("run", scenario, "--out", str(out), "--db", str(db), "--quiet")
    # Then it finds 325 TPS (100, 250 pass; 400 fails; 325 passes) and exits 0
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "capacity.json").read_text())
    assert [(s["tps"], s["passed"]) for s in report["steps"]] == [
        (100, True), (250, True), (400, False), (325, True)]
    assert (report["capacity_tps"], report["first_failing_tps"]) == (325, 400)
    assert "CAPACITY 325 TPS" in result.stdout
    assert f"confirm   stresslab run {scenario} --tps 325 --duration 2s" in result.stdout
    assert result.stderr.count("stresslab: step ") == 8  # announced and judged
    # And every step ran against the same reference service, which counted every request
    summaries = [json.loads((out / s["outputs"] / "summary.json").read_text())
                 for s in report["steps"]]
    assert len({s["target"] for s in summaries}) == 1
    assert all(s["counts"]["target_received"] == s["counts"]["sent"] for s in summaries)

    # When the printed command runs, and one at the first failing rate
    confirm = stresslab("run", scenario, "--tps", "325", "--duration", "2s", "--out",
                        str(tmp_path / "confirm"), "--db", str(db), "--quiet")
    above = stresslab("run", scenario, "--tps", "400", "--duration", "2s", "--out",
                      str(tmp_path / "above"), "--db", str(db), "--quiet")
    # Then they are judged as the steps were: the capacity passes, the rate above fails
    assert confirm.returncode == 0, confirm.stdout + confirm.stderr
    assert above.returncode == 1, above.stdout + above.stderr
    criteria = json.loads((tmp_path / "above" / "summary.json").read_text())["criteria"]
    assert [(c["expr"], c["passed"]) for c in criteria] == [("sent < 700", False),
                                                            ("lost == 0", True)]


@pytest.mark.parametrize("search, http, headline, outcome", [
    # a first step that breaks a criterion
    ("{start_tps: 100, step_tps: 100, max_tps: 300, step_duration: 1s, "
     "criteria: ['sent < 10']}", "{}", "NO CAPACITY", "none-passed"),
    # a generator that cannot keep one request in flight at 1,000 TPS: nobody is blamed
    ("{start_tps: 1000, step_tps: 100, max_tps: 1200, step_duration: 1s}",
     "{max_in_flight: 1, connections: 1}", "GENERATOR-LIMITED", "generator-limited"),
])
def test_a_search_that_finds_no_capacity_exits_1(tmp_path, search, http, headline, outcome):
    out = tmp_path / "out"
    result = stresslab("run", scenario_file(tmp_path, search, http), "--out", str(out), "--db",
                       str(tmp_path / "db"), "--quiet")
    assert result.returncode == 1, result.stderr
    assert headline in result.stdout and "confirm" not in result.stdout
    report = json.loads((out / "capacity.json").read_text())
    assert (report["outcome"], report["capacity_tps"], len(report["steps"])) == (outcome, None, 1)
    assert report["generator_limited"] is (outcome == "generator-limited")


def test_a_bad_search_exits_2_with_one_line_and_runs_nothing(tmp_path):
    out = tmp_path / "out"
    result = stresslab("run", scenario_file(tmp_path, "{start_tps: 500, step_tps: 100, "
                                                      "max_tps: 100}"), "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "capacity_search: max_tps must be at least start_tps" in lines[0]
    assert not out.exists()


def test_ctrl_c_ends_the_search_with_what_it_has(tmp_path):
    # Given a search with long steps
    out = tmp_path / "out"
    scenario = scenario_file(tmp_path, "{start_tps: 50, step_tps: 50, max_tps: 200, "
                                       "step_duration: 30s}")
    process = subprocess.Popen(
        [sys.executable, "-m", "stresslab", "run", scenario, "--out", str(out), "--db",
         str(tmp_path / "db"), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    try:
        # When Ctrl-C arrives during the first step
        for line in process.stderr:
            if "stresslab: step 1 (step-up)" in line:
                break
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Then it stops (exit 3), claims no capacity, and still writes its outputs
    assert process.returncode == 3, stdout
    report = json.loads((out / "capacity.json").read_text())
    assert (report["status"], report["outcome"], report["capacity_tps"]) == (
        "aborted", "incomplete", None)
    assert "INCOMPLETE" in stdout
