"""Load generator against a local HTTP server -> moto Kinesis -> aggregator -> evaluate."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from lambdas import aggregator, evaluate, load_generator, plan
from stresslab.aws.store import DynamoRunStore

from .sfn_harness import FakeContext
from .world import BUCKET, TABLE, ScoreServer, World

SCENARIO = {
    "name": "aws-smoke", "workers": 2, "seed": 7,
    "phases": [{"name": "steady", "shape": "constant", "tps": 40, "duration": "3s"}],
    "criteria": ["error_rate < 1%", "lost == 0"],
}


def plan_run(world: World, url: str, run_id: str) -> dict[str, Any]:
    return plan.handler({"input": {"scenario": SCENARIO, "target_url": url}, "run_id": run_id,
                         "execution_arn": f"arn:aws:states:::execution:x:{run_id}"},
                        FakeContext())


def generate(planned: dict[str, Any], wave: dict[str, Any]) -> list[dict[str, Any]]:
    """Every shard of the wave at once, as the Distributed Map runs them."""
    results: list[dict[str, Any]] = []

    def one(shard: int) -> None:
        item = {"run_id": planned["run_id"], "wave": wave["index"], "shard": shard,
                "shards": planned["shard_count"], "start_s": wave["start_s"],
                "end_s": wave["end_s"], "run_started_at": planned["run_started_at"],
                "spec": planned["spec"], "target": planned["target"]}
        results.append(load_generator.handler({"item": item}, FakeContext()))

    threads = [threading.Thread(target=one, args=(s,)) for s in planned["shards"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_generated_batches_reconcile_through_kinesis_and_the_aggregator(
    aws: World, score_server: ScoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's CPU includes moto and the target: it is not the generator's alone.
    monkeypatch.setattr("stresslab.aws.health.SATURATED_CPU_PCT", 10_000.0)
    # Given a planned run against a local scoring server
    planned = plan_run(aws, score_server.url, "pipeline-1")
    assert planned["valid"] and planned["shard_count"] == 2

    # When both shards run and the aggregator reads what they put on the stream
    results = generate(planned, planned["waves"][0])
    records = aws.read_stream()
    response = aggregator.handler(aws.kinesis_event(records), FakeContext())

    # Then every batch was merged once and the counts reconcile end to end
    assert response == {"batchItemFailures": []}
    assert len(records) == sum(r["batches"] for r in results)
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    total = store.total("pipeline-1")
    assert total is not None
    sent = sum(r["sent"] for r in results)
    assert total.batch.scheduled == 120 == sum(r["scheduled"] for r in results)
    assert total.batch.sent == sent == score_server.received
    assert total.batch.ok == sent and total.batch.sent + total.batch.dropped == 120
    assert all(w.complete for w in store.workers("pipeline-1").values())
    assert all(r["peak_open_fds"] and r["peak_open_fds"] < 1024 for r in results)

    # And a redelivery of the same records changes nothing
    again = aggregator.handler(aws.kinesis_event(records), FakeContext())
    assert again == {"batchItemFailures": []}
    assert store.total("pipeline-1").batch.sent == sent  # type: ignore[union-attr]

    # And Evaluate judges the rebuilt run with the core and writes the four outputs
    evaluation = evaluate.handler({"run_id": "pipeline-1"}, FakeContext())
    assert evaluation["status"] == "completed" and evaluation["passed"] is True
    s3 = aws.client("s3")
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/pipeline-1/summary.json")[
        "Body"].read())
    assert summary["counts"]["sent"] == sent and summary["counts"]["reconciled"] is True
    assert summary["counts"]["duplicate_batches"] == len(records)
    assert summary["workers_report"] == {"expected": 2, "finished": 2, "failed": []}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"runs/pipeline-1/{n}" for n in
                    ("summary.json", "timeseries.csv", "report.html", "junit.xml")}
    assert store.get_run("pipeline-1")["status"] == "completed"
