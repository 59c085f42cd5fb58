"""A real local run: worker processes, the reference service over HTTP, SQLite, outputs."""

from __future__ import annotations

import json

import pytest

from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.local.store import SqliteRunStore
from stresslab.scenario.spec import parse_scenario

pytestmark = pytest.mark.timeout(120)


def spec(**extra: object):
    return parse_scenario({
        "name": "it",
        "workers": 2,
        "phases": [{"shape": "constant", "tps": 150, "duration": 4}],
        "criteria": ["lost == 0", "error_rate < 0.5"],
        **extra,
    }, "test")


def assert_reconciles(counts: dict) -> None:
    assert counts["scheduled"] == counts["sent"] + counts["dropped"]
    assert counts["sent"] == counts["ok"] + counts["errors"] + counts["timeouts"]
    assert counts["target_received"] == counts["sent"]
    assert counts["reconciled"] is True


async def test_a_local_run_reconciles_with_the_targets_own_count(tmp_path):
    # Given a short steady scenario against the bundled reference service
    run = LocalRun(LocalRunOptions(spec=spec(), out_dir=tmp_path / "out",
                                   db_path=tmp_path / "runs.db", progress=False))
    # When it runs
    result = await run.execute()
    # Then every transaction is accounted for, on both sides
    counts = result.summary["counts"]
    assert counts["scheduled"] == 600
    assert_reconciles(counts)
    assert result.summary["status"] == "completed"
    assert result.summary["workers_report"] == {"expected": 2, "finished": 2, "failed": []}
    assert result.summary["accuracy"]["labelled"] == counts["ok"]
    assert result.exit_code == (0 if result.summary["passed"] else 1)
    # And the outputs and the store hold the run
    assert {p.name for p in result.outputs.values()} == {
        "summary.json", "timeseries.csv", "report.html", "junit.xml"}
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["run_id"] == result.run_id
    store = SqliteRunStore(tmp_path / "runs.db")
    record = store.get_run(result.run_id)
    assert record["status"] == "completed" and record["summary"]["counts"] == counts
    assert sum(row["sent"] for row in store.series(result.run_id)) == counts["sent"]
    assert sum(b.sent for b in store.batches(result.run_id)) == counts["sent"]
    assert [r["run_id"] for r in store.list_runs()] == [result.run_id]


async def test_a_fault_on_the_timeline_shows_in_the_seconds_it_covers(tmp_path):
    # Given every agent failing from 1 s to 3 s of a 5 s run
    faulty = spec(
        phases=[{"shape": "constant", "tps": 100, "duration": 5}],
        faults=[{"type": "agent_errors", "at": 1, "duration": 2, "intensity": 1.0,
                 "label": "agents crash"}],
    )
    run = LocalRun(LocalRunOptions(spec=faulty, db_path=tmp_path / "runs.db", progress=False))
    result = await run.execute()
    # Then the fault was injected and cleared on time, errors appear only around it,
    # and the counts still reconcile
    (window,) = result.summary["faults"]
    assert window["status"] == "cleared"
    assert 0.9 <= window["start_s"] <= 1.6 and 2.9 <= window["end_s"] <= 3.6
    assert_reconciles(result.summary["counts"])
    errors = {row["second"]: row["errors"] for row in result.series}
    assert errors[0] == 0 and errors[4] == 0
    assert errors[1] + errors[2] > 50
    assert any(row["faults"] for row in result.series)


async def test_a_run_that_fails_mid_way_still_writes_its_outputs_with_the_reason(tmp_path):
    # Given a run whose own machinery fails once second 1 has closed (here: a progress hook)
    def fail(row: dict) -> None:
        if row["second"] >= 1:
            raise TimeoutError()  # no message of its own, as in the field report

    run = LocalRun(LocalRunOptions(spec=spec(), out_dir=tmp_path / "out", on_second=fail,
                                   db_path=tmp_path / "runs.db", progress=False))
    # When it runs
    result = await run.execute()
    # Then it ended early as failed, with a one-line reason that is never empty
    summary = result.summary
    assert summary["status"] == "failed" and summary["passed"] is False
    assert result.exit_code == 1
    (reason,) = [n for n in summary["notes"] if n.startswith("the run ended early: ")]
    assert reason == "the run ended early: no answer in time (TimeoutError)"
    # And its outputs and its record hold what was measured until then
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["run_id"] == result.run_id and written["status"] == "failed"
    assert 0 < written["counts"]["sent"] < 600
    assert SqliteRunStore(tmp_path / "runs.db").get_run(result.run_id)["status"] == "failed"
