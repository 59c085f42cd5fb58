"""The batch intake of a local run: batches stored before they are aggregated, unreadable ones
counted, and kept waiting while the store fails."""

from __future__ import annotations

import sqlite3
from typing import Any

from stresslab.local.batch_intake import BatchIntake
from stresslab.local.live_publisher import RunNotes
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import MetricsBatch, WindowStats
from tests.run_parts import Recorder, run_parts


class FlakyStore:
    def __init__(self, locked: int = 0) -> None:
        self.locked = locked
        self.batches: list[MetricsBatch] = []
        self.rows: list[dict[str, Any]] = []

    def add_batches(self, batches: list[MetricsBatch]) -> int:
        if self.locked:
            self.locked -= 1
            raise sqlite3.OperationalError("database is locked")
        self.batches.extend(batches)
        return len(batches)

    def save_seconds(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)


def batch(worker: str, seq: int, scheduled: int = 5) -> str:
    stats = WindowStats()
    stats.scheduled = stats.sent = stats.ok = scheduled
    return stats.to_batch("r1", worker, 0, 0, seq, 0).model_dump_json(by_alias=True)


def intake() -> tuple[Recorder, RunNotes, list[int], BatchIntake]:
    _, _, recorder, _, notes = run_parts()
    woken: list[int] = []
    return recorder, notes, woken, BatchIntake(notes, lambda: woken.append(1))


def test_batches_are_stored_then_aggregated_once_and_bad_ones_counted() -> None:
    _, notes, woken, batches = intake()
    store, aggregator = FlakyStore(), RunAggregator("r1", [10.0] * 3)
    batches.accept(batch("w0", 0))
    batches.accept(batch("w0", 0))  # a redelivery
    batches.accept('{"schema": "stresslab.metrics/v1", "run_id": ')
    batches.drain(store, "r1", aggregator, lambda second: {"second": second})
    assert len(woken) == 3 and len(store.batches) == 2
    assert aggregator.totals.scheduled == 5 and batches.scheduled_by_worker == {"w0": 5}
    assert batches.invalid == 1 and store.rows == [{"second": 0}] and notes.items == []


def test_a_store_that_fails_keeps_the_batches_for_the_next_drain_and_says_so_once() -> None:
    recorder, notes, _, batches = intake()
    store, aggregator = FlakyStore(locked=2), RunAggregator("r1", [10.0] * 3)
    batches.accept(batch("w0", 0))
    batches.drain(store, "r1", aggregator, lambda second: {"second": second})
    batches.drain(store, "r1", aggregator, lambda second: {"second": second})
    assert aggregator.totals.scheduled == 0 and batches.store_failures == 2
    batches.accept(batch("w1", 0, scheduled=3))
    batches.drain(store, "r1", aggregator, lambda second: {"second": second})
    assert aggregator.totals.scheduled == 8 and len(store.batches) == 2
    assert notes.items == ["the run store could not be written (database is locked "
                           "(OperationalError)); retried at every tick"]
    assert len(recorder.events("run_note")) == 1
    assert batches.notes() == ["2 writes to the run store failed and were retried"]


def test_a_recount_from_the_store_counts_each_batch_once() -> None:
    _, _, _, batches = intake()
    stored = [MetricsBatch.model_validate_json(batch("w0", n)) for n in (0, 1, 1)]
    batches.recount(stored)
    assert batches.scheduled_by_worker == {"w0": 10}
