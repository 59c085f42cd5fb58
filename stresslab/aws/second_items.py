"""The table's item layout and the seconds kept in it: keys, merged windows (a second's parts,
a run's totals, a tick), worker records, and the pure merging of MetricsBatches."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stresslab.measurement.metrics import MetricsBatch, WindowStats, WorkerHealth

MERGED_WORKER = "merged"


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def second_sk(second: int) -> str:
    return f"SEC#{second:07d}"


def part_sk(second: int, worker_id: str, seq: int) -> str:
    """One part of a second: named after its first batch, whose marker is written with it."""
    return f"{second_sk(second)}#{worker_id}#{seq:09d}"


def tick_sk(second: int) -> str:
    return f"TICK#{second:07d}"


def marker_pk(run_id: str, worker_id: str) -> str:
    return f"RUN#{run_id}#W#{worker_id}"


def marker_sk(seq: int) -> str:
    return f"BATCH#{seq:09d}"


@dataclass(frozen=True)
class StoredWindow:
    """Merged MetricsBatches as kept in the table: a second (its parts merged), a run's
    totals, or a tick's running totals."""

    batch: MetricsBatch
    batches: int
    version: int
    peak_sent: int = 0
    workers: frozenset[str] = frozenset()


@dataclass
class MergeOutcome:
    """What one merge_batches call did: new batches per run, and redelivered ones skipped."""

    merged: list[MetricsBatch] = field(default_factory=list)
    duplicates: int = 0
    writes: int = 0

    @property
    def runs(self) -> dict[str, set[int]]:
        touched: dict[str, set[int]] = {}
        for batch in self.merged:
            touched.setdefault(batch.run_id, set()).add(batch.window)
        return touched


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    batches: int
    final_seq: int | None
    final_window: int | None

    @property
    def complete(self) -> bool:
        return self.final_seq is not None and self.batches >= self.final_seq + 1


def merge_health(a: WorkerHealth, b: WorkerHealth) -> WorkerHealth:
    """The worst of two generators' health: a saturated worker must stay visible once merged."""

    def worst(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else max(x, y)

    fds = worst(a.open_fds, b.open_fds)
    return WorkerHealth(
        cpu_pct=worst(a.cpu_pct, b.cpu_pct), rss_mb=worst(a.rss_mb, b.rss_mb),
        open_fds=None if fds is None else int(fds), in_flight=max(a.in_flight, b.in_flight),
    )


def merged_batch(existing: MetricsBatch | None, batch: MetricsBatch, window: int) -> MetricsBatch:
    """existing + batch, merged by the core's WindowStats (exact counts, merged histograms)."""
    return merge_batches_of([batch] if existing is None else [existing, batch], batch.run_id,
                            window)


def merge_batches_of(batches: Iterable[MetricsBatch], run_id: str, window: int) -> MetricsBatch:
    """Many batches as one (worker `merged`), merged by the core's WindowStats."""
    stats = WindowStats()
    health: WorkerHealth | None = None
    for batch in batches:
        stats.add_batch(batch)
        health = batch.health if health is None else merge_health(health, batch.health)
    return stats.to_batch(run_id, MERGED_WORKER, 0, 0, 0, window, health=health)


def worker_slot(worker_id: str) -> str:
    """The planned worker an attempt belongs to: w0-s1-r2 -> w0-s1."""
    base, _, attempt = worker_id.rpartition("-r")
    return base if base and attempt.isdigit() else worker_id


def table_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def stored_window(item: dict[str, Any]) -> StoredWindow:
    return StoredWindow(
        batch=MetricsBatch.model_validate_json(item["batch"]["S"]),
        batches=int(item.get("batches", {"N": "1"})["N"]),
        version=int(item.get("version", {"N": "1"})["N"]),
        peak_sent=int(item.get("peak_sent", {"N": "0"})["N"]),
    )


def merge_parts(run_id: str, items: Iterable[dict[str, Any]]) -> dict[int, StoredWindow]:
    """Part items (sk SEC#<second>#...) merged per second."""
    parts: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        parts.setdefault(int(item["sk"]["S"][4:11]), []).append(item)
    seconds = {}
    for second, found in parts.items():
        batches = [MetricsBatch.model_validate_json(i["batch"]["S"]) for i in found]
        workers = frozenset(key[0] for i in found for key in json.loads(i["keys"]["S"]))
        seconds[second] = StoredWindow(
            batch=batches[0] if len(batches) == 1 else merge_batches_of(batches, run_id, second),
            batches=sum(int(i["batches"]["N"]) for i in found), version=len(found),
            workers=workers,
        )
    return seconds
