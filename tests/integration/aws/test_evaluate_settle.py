"""Evaluate under moto waits for a planned worker whose batches are still on their way, instead
of judging the run on the workers that happened to be merged already."""

from __future__ import annotations

import json
import threading

from lambdas import evaluate

from .sfn_harness import FakeContext
from .test_aggregator_scaling import batch, deliver, plan_workers
from .world import BUCKET, World


def test_evaluate_waits_for_a_planned_worker_that_is_merged_late(aws: World) -> None:
    # Given a run of two workers: the first one's batches are all merged
    plan_workers("settle-1", 2, seconds=3)
    deliver(aws, [batch("settle-1", "w0-s0", s, ok=10, final=s == 2) for s in range(3)])

    # When Evaluate starts while the second worker's batches are still behind in the stream
    late = threading.Timer(1.0, deliver, args=(aws, [
        batch("settle-1", "w0-s1", s, ok=7, final=s == 2) for s in range(3)]))
    late.start()
    try:
        evaluation = evaluate.handler({"run_id": "settle-1"}, FakeContext())
    finally:
        late.join(30)

    # Then it judged the run with both workers' answers
    assert evaluation["workers_failed"] == [] and evaluation["status"] == "completed"
    summary = json.loads(aws.client("s3").get_object(
        Bucket=BUCKET, Key="runs/settle-1/summary.json")["Body"].read())
    assert summary["counts"]["sent"] == 3 * 10 + 3 * 7
    assert summary["workers_report"]["failed"] == []
