"""Lambda's Kinesis event source mapping: poll each shard, invoke the function with Kinesis
event records, retry what failed (partial batch failures, bisection on function errors), and
send what exhausts its retries to the on-failure destination."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .account import StreamMapping
from .template import ACCOUNT, REGION

logger = logging.getLogger(__name__)
Invoke = Callable[[str, dict[str, Any]], Any]


def kinesis_event(records: list[dict[str, Any]], stream_arn: str, shard_id: str,
                  ) -> dict[str, Any]:
    """The event Lambda delivers for these GetRecords records."""
    return {"Records": [{
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventName": "aws:kinesis:record",
        "eventID": f"{shard_id}:{r['SequenceNumber']}", "awsRegion": REGION,
        "eventSourceARN": stream_arn,
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/event-source-mapping",
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
            "sequenceNumber": r["SequenceNumber"],
            "data": base64.b64encode(r["Data"]).decode(),
            "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
        },
    } for r in records]}


@dataclass
class _Batch:
    records: list[dict[str, Any]]
    attempts: int = 0


@dataclass
class MappingStats:
    invocations: int = 0
    records_delivered: int = 0
    retried_records: int = 0
    function_errors: int = 0
    discarded: int = 0
    item_failures: list[str] = field(default_factory=list)


class StreamPoller:
    """One mapping: a thread that reads every shard of the stream and invokes the function."""

    def __init__(self, mapping: StreamMapping, kinesis: Any, sqs: Any, invoke: Invoke,
                 poll_s: float = 0.25) -> None:
        self.mapping = mapping
        self.stats = MappingStats()
        self._kinesis, self._sqs, self._invoke = kinesis, sqs, invoke
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"esm-{mapping.function}")
        self._iterators: dict[str, str] = {}
        self._queues: dict[str, deque[_Batch]] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _stream_name(self) -> str:
        return self.mapping.stream_arn.rsplit("/", 1)[-1]

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                for shard in self._kinesis.list_shards(StreamName=self._stream_name())["Shards"]:
                    busy |= self._poll_shard(shard["ShardId"])
            except Exception:  # noqa: BLE001 - the poller outlives a failed poll, as Lambda's
                logger.exception("polling %s failed", self.mapping.stream_arn)
            if not busy:
                self._stop.wait(self._poll_s)

    def _poll_shard(self, shard_id: str) -> bool:
        queue = self._queues.setdefault(shard_id, deque())
        if not queue:
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._kinesis.get_shard_iterator(
                    StreamName=self._stream_name(), ShardId=shard_id,
                    ShardIteratorType=self.mapping.starting_position)["ShardIterator"]
            page = self._kinesis.get_records(ShardIterator=self._iterators[shard_id],
                                             Limit=self.mapping.batch_size)
            self._iterators[shard_id] = page["NextShardIterator"]
            if not page["Records"]:
                return False
            queue.append(_Batch(page["Records"]))
        self._deliver(shard_id, queue)
        return True

    def _deliver(self, shard_id: str, queue: deque[_Batch]) -> None:
        batch = queue[0]
        event = kinesis_event(batch.records, self.mapping.stream_arn, shard_id)
        self.stats.invocations += 1
        try:
            answer = self._invoke(self.mapping.function, event)
        except Exception as error:  # noqa: BLE001 - a function error: retry, bisect
            self.stats.function_errors += 1
            self._retry(queue, batch, f"{type(error).__name__}: {error}", bisect=True)
            return
        failures = (answer or {}).get("batchItemFailures") or [] \
            if self.mapping.report_item_failures else []
        if not failures:
            self.stats.records_delivered += len(batch.records)
            queue.popleft()
            return
        # Lambda resumes from the lowest failed sequence number: it and all after it again.
        failed = {f.get("itemIdentifier") for f in failures}
        self.stats.item_failures += [str(f) for f in failed]
        first = next((i for i, r in enumerate(batch.records) if r["SequenceNumber"] in failed),
                     None)
        if first is None or "" in failed or None in failed:
            first = 0  # an identifier that names no record fails the whole batch
        self.stats.records_delivered += first
        remainder = _Batch(batch.records[first:], batch.attempts)
        queue[0] = remainder
        self._retry(queue, remainder, "batch item failures", bisect=False)

    def _retry(self, queue: deque[_Batch], batch: _Batch, reason: str, bisect: bool) -> None:
        batch.attempts += 1
        self.stats.retried_records += len(batch.records)
        limit = self.mapping.max_retries
        if limit >= 0 and batch.attempts > limit:
            queue.popleft()
            self._discard(batch, reason)
            return
        if bisect and self.mapping.bisect_on_error and len(batch.records) > 1:
            half = len(batch.records) // 2
            queue.popleft()
            queue.appendleft(_Batch(batch.records[half:], batch.attempts))
            queue.appendleft(_Batch(batch.records[:half], batch.attempts))
        time.sleep(min(0.2 * batch.attempts, 1.0))

    def _discard(self, batch: _Batch, reason: str) -> None:
        self.stats.discarded += len(batch.records)
        logger.warning("%d records of %s discarded after %d attempts: %s", len(batch.records),
                       self.mapping.stream_arn, batch.attempts, reason)
        destination = self.mapping.on_failure_arn
        if destination and ":sqs:" in destination:
            queue_url = self._sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])
            self._sqs.send_message(QueueUrl=queue_url["QueueUrl"], MessageBody=json.dumps({
                "requestContext": {"condition": "RetryAttemptsExhausted",
                                   "approximateInvokeCount": batch.attempts},
                "KinesisBatchInfo": {
                    "batchSize": len(batch.records),
                    "startSequenceNumber": batch.records[0]["SequenceNumber"],
                    "endSequenceNumber": batch.records[-1]["SequenceNumber"],
                    "streamArn": self.mapping.stream_arn},
                "reason": reason}))
