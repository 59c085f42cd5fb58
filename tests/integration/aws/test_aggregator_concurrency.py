"""Several aggregator invocations of one shard at once (the event source's parallelization
factor), each with other workers' batches of the same seconds: no transaction is cancelled,
every batch counts once and every second is ticked once."""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend

from stresslab.aws.store import DynamoRunStore

from .test_aggregator_scaling import batch, deliver, many_workers, plan_workers
from .world import TABLE, World

__all__ = ["many_workers"]
CONSUMERS, WORKERS, SECONDS = 4, 24, 5


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """moto's DynamoDB, one request at a time as DynamoDB makes each request atomic (moto
    checks a condition and then writes without a lock); returns the cancelled transactions."""
    lock = threading.RLock()
    cancelled: list[str] = []

    def atomic(method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                try:
                    return method(*args, **kwargs)
                except TransactionCanceledException as error:
                    cancelled.append(str(error))
                    raise
        return call

    for name in ("put_item", "get_item", "query", "update_item", "delete_item",
                 "transact_write_items"):
        monkeypatch.setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))
    return cancelled


def test_concurrent_consumers_of_one_shard_never_contend(
    many_workers: World, atomic_dynamodb: list[str],
) -> None:
    # Given 24 workers whose batches four consumers take in turns, second by second
    plan_workers("par-1", WORKERS, seconds=SECONDS)
    errors: list[BaseException] = []
    in_step = threading.Barrier(CONSUMERS)

    def consume(consumer: int) -> None:
        try:
            for second in range(SECONDS):
                mine = [batch("par-1", f"w0-s{w}", second, ok=3, errors=1,
                              final=second == SECONDS - 1)
                        for w in range(consumer, WORKERS, CONSUMERS)]
                in_step.wait(30)
                assert deliver(many_workers, mine) == {"batchItemFailures": []}
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    # When they all merge at once
    threads = [threading.Thread(target=consume, args=(c,)) for c in range(CONSUMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    # Then no transaction was cancelled (they share no item), every batch counted once
    assert errors == []
    assert atomic_dynamodb == []
    store = DynamoRunStore(many_workers.client("dynamodb"), TABLE)
    seconds = store.seconds("par-1")
    assert {s: (w.batch.sent, w.batch.errors.http_5xx, w.batches) for s, w in seconds.items()} == {
        s: (4 * WORKERS, WORKERS, WORKERS) for s in range(SECONDS)}
    assert store.duplicates("par-1") == 0

    # And every second was ticked once, in order, with the run's running totals
    last = store.last_tick("par-1")
    assert last is not None and last[0] == SECONDS - 1
    assert last[1].batch.sent == 4 * WORKERS * SECONDS
