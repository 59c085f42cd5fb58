"""The metrics batches of a local run on their way in: from the workers' pump thread, stored,
then aggregated on the run's loop."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pydantic import ValidationError

from stresslab.local.faults import describe_error
from stresslab.local.live_publisher import RunNotes
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import MetricsBatch


class BatchStore(Protocol):
    """Where batches and per-second rows are kept (local.store.SqliteRunStore)."""

    def add_batches(self, batches: list[MetricsBatch]) -> object: ...

    def save_seconds(self, run_id: str, rows: list[dict[str, Any]]) -> None: ...


class BatchIntake:
    """Batches wait here until the run's loop drains them; one that cannot be read is counted
    and left out, and a store that fails keeps them waiting for the next drain."""

    def __init__(self, notes: RunNotes, wake: Callable[[], None]) -> None:
        self._notes = notes
        self._wake = wake
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self.invalid = 0
        self.store_failures = 0
        self.scheduled_by_worker: Counter[str] = Counter()

    def accept(self, text: str) -> None:
        """A batch's JSON (from the pump thread; or again, as a redelivery)."""
        with self._lock:
            self._pending.append(text)
        self._wake()

    def recount(self, batches: Iterable[MetricsBatch]) -> None:
        """Arrivals scheduled per worker, from stored batches (repeats counted once)."""
        scheduled: Counter[str] = Counter()
        seen: set[tuple[str, int]] = set()
        for batch in batches:
            if batch.key not in seen:
                seen.add(batch.key)
                scheduled[batch.worker_id] += batch.scheduled
        self.scheduled_by_worker = scheduled

    def drain(
        self, store: BatchStore, run_id: str, aggregator: RunAggregator,
        row: Callable[[int], dict[str, Any]],
    ) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        batches, readable = [], []
        for text in pending:
            try:
                batches.append(MetricsBatch.model_validate_json(text))
                readable.append(text)
            except ValidationError:  # counted and noted; one bad message must not end the run
                self.invalid += 1
        if batches:
            # Stored before aggregated, so a rebuilt aggregator has all; a store that fails
            # (locked, full) keeps them waiting for the next tick.
            try:
                store.add_batches(batches)
            except sqlite3.Error as error:
                self._store_trouble(error)
                with self._lock:
                    self._pending[:0] = readable
                return
            for batch in batches:
                if aggregator.add(batch):
                    self.scheduled_by_worker[batch.worker_id] += batch.scheduled
        dirty = aggregator.take_dirty()
        if dirty:
            try:
                store.save_seconds(run_id, [row(second) for second in dirty])
            except sqlite3.Error as error:  # every second is saved again when the run ends
                self._store_trouble(error)

    def _store_trouble(self, error: sqlite3.Error) -> None:
        self.store_failures += 1
        if self.store_failures == 1:
            self._notes.trouble(f"the run store could not be written ({describe_error(error)}); "
                                "retried at every tick")

    def notes(self) -> list[str]:
        return [f"{self.store_failures} writes to the run store failed and were retried"] if (
            self.store_failures) else []
