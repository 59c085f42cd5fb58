"""The emulated Kinesis event source mapping against moto's Kinesis and SQS: partial batch
failures resume from the failed record, function errors bisect, exhausted batches go to the
on-failure queue."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from .account import StreamMapping
from .streams import StreamPoller
from .system import AwsLocal


def _stream_with(aws: AwsLocal, payloads: list[str]) -> tuple[str, str]:
    kinesis = aws.client("kinesis")
    name = f"poller-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    for payload in payloads:
        kinesis.put_record(StreamName=name, Data=payload.encode(), PartitionKey="k")
    queue = aws.client("sqs").create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    return arn, queue


def _run(aws: AwsLocal, arn: str, invoke: Callable[[str, dict[str, Any]], Any],
         done: Callable[[], bool], **mapping: Any) -> StreamPoller:
    settings = {"batch_size": 10, "bisect_on_error": True, "report_item_failures": True,
                "max_retries": 2, "on_failure_arn": None, **mapping}
    poller = StreamPoller(StreamMapping(function="f", stream_arn=arn,
                                        starting_position="TRIM_HORIZON", **settings),
                          aws.client("kinesis"), aws.client("sqs"), invoke, poll_s=0.05)
    poller.start()
    deadline = time.monotonic() + 20
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop()
    return poller


def _data(event: dict[str, Any]) -> list[str]:
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]


def test_a_failed_item_is_delivered_again_with_those_after_it(aws_local: AwsLocal) -> None:
    # Given three records, and a function that fails the second one the first time
    arn, _ = _stream_with(aws_local, ["a", "b", "c"])
    batches: list[list[str]] = []

    def invoke(function: str, event: dict[str, Any]) -> Any:
        batches.append(_data(event))
        assert all(r["eventSourceARN"] == arn for r in event["Records"])
        if len(batches) == 1:
            return {"batchItemFailures": [
                {"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}]}
        return {"batchItemFailures": []}

    poller = _run(aws_local, arn, invoke, lambda: len(batches) >= 2)
    # Then the batch resumes from the failed record, and nothing is delivered twice after that
    assert batches == [["a", "b", "c"], ["b", "c"]]
    assert poller.stats.records_delivered == 3 and poller.stats.discarded == 0


def test_a_function_error_bisects_then_gives_up_on_the_poison_record(
        aws_local: AwsLocal) -> None:
    # Given a record the function always fails on
    arn, queue = _stream_with(aws_local, ["a", "poison", "c", "d"])
    batches: list[list[str]] = []

    def invoke(function: str, event: dict[str, Any]) -> Any:
        batches.append(_data(event))
        if "poison" in batches[-1]:
            raise RuntimeError("cannot decode")
        return {"batchItemFailures": []}

    sqs = aws_local.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    poller = _run(aws_local, arn, invoke, lambda: bool(batches) and batches[-1] == ["c", "d"],
                  on_failure_arn=queue_arn, max_retries=2)
    # Then the batch was halved until the poison record was alone, which went to the queue
    assert batches[0] == ["a", "poison", "c", "d"] and ["a", "poison"] in batches
    assert ["a"] in batches and batches[-1] == ["c", "d"]
    assert batches.count(["poison"]) == 1 and poller.stats.discarded == 1
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert message["KinesisBatchInfo"]["batchSize"] == 1
