"""The aggregator handler under moto: duplicates, out-of-order records, partial failures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lambdas import aggregator, plan
from stresslab.aws.store import DynamoRunStore
from stresslab.measurement.metrics import MetricsBatch, WindowStats, record_us

from .sfn_harness import FakeContext
from .world import TABLE, World


def batch(worker: str, seq: int, window: int, sent: int, final: bool = False) -> MetricsBatch:
    stats = WindowStats()
    stats.scheduled = stats.sent = stats.ok = sent
    for i in range(sent):
        record_us(stats.latency, 0.001 * (i + 1))
    stats.record_decision("approve", False, False, "legit", 10.0)
    return stats.to_batch("agg-1", worker, 0, int(worker[-1]), seq, window, final=final)


def record(sequence: int, data: bytes | MetricsBatch) -> dict[str, Any]:
    body = data.model_dump_json(by_alias=True).encode() if isinstance(data, MetricsBatch) \
        else data
    return {"SequenceNumber": f"{sequence:056d}", "PartitionKey": "k", "Data": body,
            "ApproximateArrivalTimestamp": datetime.now(UTC)}


def test_duplicates_out_of_order_and_a_poison_record(aws: World) -> None:
    # Given a planned run and records that arrive out of order, one twice, one corrupt
    plan.handler({"input": {"scenario": {"name": "agg", "phases": [
        {"shape": "constant", "tps": 10, "duration": "3s"}]},
        "target_url": "http://127.0.0.1:9/v1/score"}, "run_id": "agg-1"}, FakeContext())
    b = {
        "s0-0": batch("w0-s0", 0, 0, 5), "s0-1": batch("w0-s0", 1, 1, 7),
        "s0-2": batch("w0-s0", 2, 2, 4, final=True), "s1-0": batch("w0-s1", 0, 0, 6),
        "s1-1": batch("w0-s1", 1, 1, 3, final=True),
    }
    records = [record(1, b["s0-2"]), record(2, b["s1-0"]), record(3, b["s0-0"]),
               record(4, b"{not json"), record(5, b["s0-2"]), record(6, b["s1-1"]),
               record(7, b["s0-1"])]

    # When the aggregator gets them, and then the event source redelivers the failed one
    response = aggregator.handler(aws.kinesis_event(records), FakeContext())
    again = aggregator.handler(aws.kinesis_event([records[3], records[6]]), FakeContext())

    # Then only the corrupt record is reported failed; each batch counted exactly once
    assert response == {"batchItemFailures": [{"itemIdentifier": f"{4:056d}"}]}
    assert again == {"batchItemFailures": [{"itemIdentifier": f"{4:056d}"}]}
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    total = store.total("agg-1")
    assert total is not None and total.batch.sent == 25 and total.batches == 5
    seconds = store.seconds("agg-1")
    assert {s: w.batch.sent for s, w in seconds.items()} == {0: 11, 1: 10, 2: 4}
    assert seconds[0].batches == 2 and total.peak_sent == 11
    assert total.batch.confusion.tn == 5
    assert store.duplicates("agg-1") == 2
    workers = store.workers("agg-1")
    assert {w: (r.batches, r.complete) for w, r in workers.items()} == {
        "w0-s0": (3, True), "w0-s1": (2, True)}
