"""20 load generator invocations at once, 2,000 TPS in all, against a scoring server on
127.0.0.1 -> moto Kinesis -> the aggregator -> Evaluate: every count reconciles, and the
aggregator's DynamoDB write calls per second of run are counted."""

from __future__ import annotations

import json

import pytest

from lambdas import aggregator, evaluate, plan
from stresslab.aws.store import DynamoRunStore

from .sfn_harness import FakeContext
from .test_aggregator_scaling import BATCH_SIZE, WriteCounter
from .test_pipeline import generate
from .world import BUCKET, TABLE, ScoreServer, World, reset_handlers

WORKERS, TPS, SECONDS = 20, 2_000, 3


@pytest.mark.slow
def test_twenty_workers_at_2000_tps_reconcile_end_to_end(
    aws: World, score_server: ScoreServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This process's CPU includes moto, the target and 20 generators: not one generator's own.
    monkeypatch.setattr("stresslab.aws.health.SATURATED_CPU_PCT", 10_000.0)
    monkeypatch.setenv("MAX_TPS", "5000")
    monkeypatch.setenv("MAX_WORKERS", "64")
    reset_handlers()
    scenario = {"name": "aws-scale", "workers": WORKERS, "seed": 11,
                "phases": [{"name": "steady", "shape": "constant", "tps": TPS,
                            "duration": f"{SECONDS}s"}]}

    # Given a planned run of 20 shards
    planned = plan.handler({"input": {"scenario": scenario, "target_url": score_server.url},
                            "run_id": "scale-2000"}, FakeContext())
    assert planned["valid"] and planned["shard_count"] == WORKERS

    # When every shard runs at once and the aggregator reads the stream in its batches
    results = generate(planned, planned["waves"][0])
    assert len(results) == WORKERS
    records = aws.read_stream()
    counter = WriteCounter()
    for start in range(0, len(records), BATCH_SIZE):
        response = aggregator.handler(aws.kinesis_event(records[start:start + BATCH_SIZE]),
                                      FakeContext())
        assert response == {"batchItemFailures": []}

    # Then the counts reconcile: scheduled = sent + dropped, and the target got every one sent
    # but those that never left their generator (no connection in time on a busy machine)
    scheduled = sum(r["scheduled"] for r in results)
    sent = sum(r["sent"] for r in results)
    dropped = sum(r["dropped"] for r in results)
    assert scheduled == TPS * SECONDS == sent + dropped
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    total = store.total("scale-2000")
    assert total is not None
    assert (total.batch.scheduled, total.batch.sent, total.batch.dropped) == (
        scheduled, sent, dropped)
    assert score_server.received == sent - total.batch.undelivered
    assert len(store.workers("scale-2000")) == WORKERS
    assert all(w.complete for w in store.workers("scale-2000").values())

    # And the aggregator wrote to DynamoDB a few times per second of run, not once per batch
    seconds = len(store.seconds("scale-2000"))
    print(f"\n{WORKERS} workers, {len(records)} batches, {seconds} seconds with data, "
          f"sent {sent}, dropped {dropped}: write calls {dict(counter.calls)} = "
          f"{counter.total / seconds:.2f}/s of run; run-partition items "
          f"{counter.run_partition_items / seconds:.2f}/s; "
          f"all items {counter.items / seconds:.2f}/s")
    assert counter.total <= 2 * seconds + len(records) // BATCH_SIZE + 1

    # And Evaluate judges the whole run
    evaluation = evaluate.handler({"run_id": "scale-2000"}, FakeContext())
    assert evaluation["workers_failed"] == []
    summary = json.loads(aws.client("s3").get_object(
        Bucket=BUCKET, Key="runs/scale-2000/summary.json")["Body"].read())
    assert summary["counts"]["sent"] == sent and summary["counts"]["reconciled"] is True
