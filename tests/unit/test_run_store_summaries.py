"""The local run store reads each stored summary as any v1 summary is read (an older one too)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from stresslab.judgement.summary_model import load_summary
from stresslab.local.store import SqliteRunStore

GOLDEN = Path(__file__).with_name("summary_golden")


def _store_with(tmp_path: Path, summaries: dict[str, object]) -> SqliteRunStore:
    store = SqliteRunStore(tmp_path / "runs.db")
    for index, (run_id, summary) in enumerate(summaries.items()):
        store.create_run(run_id, "smoke", f"2026-01-01T00:00:0{index}Z", {}, {})
        if summary is not None:
            store.finish_run(run_id, "completed", "2026-01-01T00:01:00Z", {})
            with sqlite3.connect(tmp_path / "runs.db") as db:  # as an older version stored it
                db.execute("UPDATE runs SET summary = ? WHERE run_id = ?",
                           (summary if isinstance(summary, str) else json.dumps(summary),
                            run_id))
    return store


def test_the_verdict_of_an_older_a_current_and_an_unreadable_summary(tmp_path: Path) -> None:
    current = json.loads((GOLDEN / "local.json").read_text())
    older = {**current, "counts": {k: v for k, v in current["counts"].items()
                                   if k != "undelivered"}}
    del older["degradation"]
    store = _store_with(tmp_path, {"current": current, "older": {**older, "passed": True},
                                   "mistyped": {"passed": "perhaps"}, "running": None,
                                   "garbled": "[1, 2"})
    passed = {run["run_id"]: run["passed"] for run in store.list_runs()}
    assert passed == {"current": current["passed"], "older": True, "mistyped": None,
                      "running": None, "garbled": None}


def test_a_typed_summary_is_stored_as_its_json(tmp_path: Path) -> None:
    summary = load_summary(GOLDEN / "aws.json")
    store = SqliteRunStore(tmp_path / "runs.db")
    store.create_run("r1", "smoke", "2026-01-01T00:00:00Z", {}, {})
    store.finish_run("r1", "completed", "2026-01-01T00:01:00Z", summary)
    assert store.get_run("r1")["summary"] == summary.to_json_dict()
