"""SQLite run store: runs, their raw MetricsBatches and per-second series, kept as history."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from stresslab.judgement.summary_model import RunSummary, read_summary
from stresslab.measurement.metrics import MetricsBatch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    spec TEXT NOT NULL,
    plan TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    window INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, worker_id, seq)
);
CREATE TABLE IF NOT EXISTS spilled_seconds (
    run_id TEXT NOT NULL,
    second INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, second)
);
CREATE TABLE IF NOT EXISTS seconds (
    run_id TEXT NOT NULL,
    second INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (run_id, second)
);
"""


class RunNotFound(LookupError):
    """No run with that id in the store."""


class SqliteRunStore:
    """One database file; safe to share between the runner's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT; on an error (a locked database) ROLLBACK, so the next write can
        begin again instead of failing "within a transaction" for the rest of the run."""
        self._db.execute("BEGIN")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create_run(
        self, run_id: str, scenario: str, started_at: str, spec: dict[str, Any],
        plan: dict[str, Any],
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (run_id, scenario, status, started_at, spec, plan)"
                " VALUES (?, ?, 'running', ?, ?, ?)",
                (run_id, scenario, started_at, json.dumps(spec), json.dumps(plan)),
            )

    def add_batches(self, batches: Iterable[MetricsBatch]) -> int:
        """Keep raw batches (first copy wins); returns how many were new."""
        rows = [
            (b.run_id, b.worker_id, b.seq, b.window, b.model_dump_json(by_alias=True))
            for b in batches
        ]
        with self._lock, self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO batches (run_id, worker_id, seq, window, body)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            return self._db.total_changes - before

    def batches(self, run_id: str) -> Iterator[MetricsBatch]:
        with self._lock:
            bodies = self._db.execute(
                "SELECT body FROM batches WHERE run_id = ? ORDER BY window, worker_id, seq",
                (run_id,),
            ).fetchall()
        for (body,) in bodies:
            yield MetricsBatch.model_validate_json(body)

    def save_seconds(self, run_id: str, rows: Iterable[dict[str, Any]]) -> None:
        values = [(run_id, row["second"], json.dumps(row)) for row in rows]
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO seconds (run_id, second, row) VALUES (?, ?, ?)", values
            )

    def series(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT row FROM seconds WHERE run_id = ? ORDER BY second", (run_id,)
            ).fetchall()
        return [json.loads(row) for (row,) in rows]

    def seconds_spill(self, run_id: str) -> SqliteSecondsSpill:
        """Where a running run's closed seconds wait (measurement.seconds.SpilledSeconds);
        any left from an earlier aggregator of the run are cleared."""
        spill = SqliteSecondsSpill(self._db, self._lock, run_id)
        spill.clear()
        return spill

    def finish_run(
        self, run_id: str, status: str, ended_at: str, summary: RunSummary | dict[str, Any]
    ) -> None:
        data = summary.to_json_dict() if isinstance(summary, RunSummary) else summary
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, summary = ? WHERE run_id = ?",
                (status, ended_at, json.dumps(data), run_id),
            )

    def list_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, scenario, status, started_at, ended_at, summary FROM runs"
                " ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {
                "run_id": run_id, "scenario": scenario, "status": status,
                "started_at": started_at, "ended_at": ended_at,
                **_verdict(summary),
            }
            for run_id, scenario, status, started_at, ended_at, summary in rows
        ]

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, scenario, status, started_at, ended_at, spec, plan, summary"
                " FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        keys = ("run_id", "scenario", "status", "started_at", "ended_at", "spec", "plan", "summary")
        record = dict(zip(keys, row, strict=True))
        for key in ("spec", "plan", "summary"):
            record[key] = json.loads(record[key]) if record[key] else None
        return record

    def last_passing_run(
        self, scenario: str, same_target: Callable[[RunSummary], bool]
    ) -> tuple[str, str] | None:
        """(started_at, run id) of the latest completed, passing run of `scenario` whose
        summary `same_target` accepts; None when there is none."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, started_at, summary FROM runs WHERE scenario = ?"
                " AND status = 'completed' AND summary IS NOT NULL"
                " ORDER BY started_at DESC, rowid DESC",
                (scenario,),
            ).fetchall()
        for run_id, started_at, text in rows:
            try:
                summary = read_summary(json.loads(text))
            except ValueError:
                continue
            if summary.passed and same_target(summary):
                return started_at, run_id
        return None


class SqliteSecondsSpill:
    """One run's closed seconds, each with the order it first came in (measurement.seconds)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, run_id: str) -> None:
        self._db, self._lock, self._run_id = db, lock, run_id

    def put(self, second: int, order: int, body: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO spilled_seconds (run_id, second, ord, body)"
                             " VALUES (?, ?, ?, ?)", (self._run_id, second, order, body))

    def get(self, second: int) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM spilled_seconds WHERE run_id = ? AND second = ?",
                (self._run_id, second)).fetchone()
        return None if row is None else str(row[0])

    def take(self, second: int) -> tuple[int, str] | None:
        with self._lock:
            row = self._db.execute(
                "DELETE FROM spilled_seconds WHERE run_id = ? AND second = ? RETURNING ord, body",
                (self._run_id, second)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def keys(self) -> list[tuple[int, int]]:
        with self._lock:
            rows = self._db.execute("SELECT ord, second FROM spilled_seconds WHERE run_id = ?",
                                    (self._run_id,)).fetchall()
        return [(int(order), int(second)) for order, second in rows]

    def scan(self, start: int, end: int) -> Iterator[tuple[int, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ord, body FROM spilled_seconds WHERE run_id = ? AND second >= ?"
                " AND second < ? ORDER BY ord", (self._run_id, start, end)).fetchall()
        for order, body in rows:
            yield int(order), str(body)

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spilled_seconds WHERE run_id = ?", (self._run_id,))


def _verdict(summary: str | None) -> dict[str, Any]:
    """A stored summary's verdict and the system it tested, read as any v1 summary is (an older
    one too); None when the run has none yet or it cannot be read."""
    if not summary:
        return {"passed": None, "system": None}
    try:
        read = read_summary(json.loads(summary))
    except ValueError:  # not JSON, or not an object
        return {"passed": None, "system": None}
    system = read.system_under_test
    return {"passed": read.passed, "system": system.label if system else None}
