"""Adapters against moto: KinesisTarget, KinesisMetricsSink, infra metrics."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from lambdas import infra_metrics
from stresslab.aws.kinesis import KinesisMetricsSink, KinesisTarget
from stresslab.aws.store import DynamoRunStore
from stresslab.measurement.metrics import MetricsBatch

from .sfn_harness import FakeContext
from .world import BUCKET, STREAM, TABLE, World


def test_kinesis_target_batches_transactions_and_answers_each(aws: World) -> None:
    kinesis = aws.client("kinesis")

    async def send_all() -> list[str]:
        async with KinesisTarget(kinesis, STREAM) as target:
            outcomes = await asyncio.gather(*[
                target.send({"transaction_id": f"r/0/{i}", "amount": i}) for i in range(1200)
            ])
            return [o.kind for o in outcomes] + [str(target.calls)]

    *kinds, calls = asyncio.run(send_all())

    assert kinds == ["ok"] * 1200
    assert 3 <= int(calls) < 1200  # PutRecords batches of at most 500, not one call each
    records = aws.read_stream()
    assert len(records) == 1200
    assert {json.loads(r["Data"])["transaction_id"] for r in records} == {
        f"r/0/{i}" for i in range(1200)}


def test_metrics_sink_puts_one_record_per_batch_keyed_by_worker(aws: World) -> None:
    sink = KinesisMetricsSink(aws.client("kinesis"), STREAM)
    batch = MetricsBatch(run_id="r1", worker_id="w0-s3", seq=4, window=2, sent=9)

    asyncio.run(sink.emit(batch))

    [record] = aws.read_stream()
    assert record["PartitionKey"] == "w0-s3"
    assert MetricsBatch.model_validate_json(record["Data"]) == batch


def test_infra_metrics_reads_cloudwatch_and_costs_usage(aws: World, monkeypatch) -> None:
    cloudwatch = aws.client("cloudwatch")
    now = datetime.now(UTC)
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": "score"}],
        "Timestamp": now - timedelta(seconds=30), "Value": 1_000_000.0, "Unit": "Count"}])
    # (the stack writes the list to S3: in the environment it passed Lambda's 4 KB limit)
    aws.client("s3").put_object(Bucket=BUCKET, Key="config/watched-metrics.json",
                                Body=json.dumps([{
        "id": "invocations", "namespace": "AWS/Lambda", "metric": "Invocations",
        "dimensions": {"FunctionName": "score"}, "stat": "Sum", "price": "lambda_request",
        "label": "Scoring Lambda invocations"}]))
    monkeypatch.setenv("WATCHED_METRICS_BUCKET", BUCKET)
    monkeypatch.setenv("WATCHED_METRICS_KEY", "config/watched-metrics.json")

    infra = infra_metrics.handler({}, FakeContext())

    assert infra["metrics"]["invocations"]["window_total"] == 1_000_000.0
    assert infra["cost_usd_per_hour"] > 0
    assert DynamoRunStore(aws.client("dynamodb"), TABLE).infra() == infra
