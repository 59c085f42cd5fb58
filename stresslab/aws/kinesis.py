"""Kinesis adapters: the metrics sink workers emit to, and a Target for stream-fed platforms."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stresslab.aws.errors import error_code, is_throttle
from stresslab.measurement.metrics import MetricsBatch
from stresslab.ports import OUTCOME_OK, Outcome

logger = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024


class MetricsNotDelivered(RuntimeError):
    """A MetricsBatch could not be put on the stream after every retry."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter."""

    attempts: int = 6
    base_s: float = 0.05
    cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


class KinesisMetricsSink:
    """MetricsSink: one PutRecord per batch, partition key = worker_id; raises, never drops."""

    def __init__(
        self, client: Any, stream_name: str, backoff: Backoff | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._stream = stream_name
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self.retries = 0

    async def emit(self, batch: MetricsBatch) -> None:
        data = batch.model_dump_json(by_alias=True).encode()
        last: Exception | None = None
        for attempt in range(self._backoff.attempts):
            try:
                await asyncio.to_thread(
                    self._client.put_record, StreamName=self._stream, Data=data,
                    PartitionKey=batch.worker_id,
                )
                return
            except (ClientError, BotoCoreError) as error:
                last = error
                self.retries += 1
                logger.warning("put_record failed (attempt %d): %s", attempt + 1, error)
                await self._sleep(self._backoff.delay(attempt))
        raise MetricsNotDelivered(
            f"batch {batch.worker_id}#{batch.seq} not delivered to {self._stream}: {last}"
        )


@dataclass
class _Pending:
    data: bytes
    partition_key: str
    future: asyncio.Future[Outcome]
    sent_at: float = field(default_factory=time.monotonic)


class KinesisTarget:
    """Target: transactions go to a Kinesis stream in PutRecords batches of up to 500.

    Each record gets its own outcome: ok once the stream has accepted it (the body carries
    the shard and sequence number), http_429 when it is still throttled after every retry,
    other for any other failure. Latency is ingestion latency: decisions arrive later.
    """

    def __init__(
        self, client: Any, stream_name: str, linger_s: float = 0.02,
        backoff: Backoff | None = None, max_calls: int = 4,
    ) -> None:
        self._client = client
        self._calls = asyncio.Semaphore(max_calls)
        self._stream = stream_name
        self._linger = linger_s
        self._backoff = backoff or Backoff()
        self._queue: list[_Pending] = []
        self._queued_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.calls = 0

    async def __aenter__(self) -> KinesisTarget:
        self._wakeup = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def send(self, payload: dict[str, Any]) -> Outcome:
        assert self._wakeup is not None, "use KinesisTarget as an async context manager"
        data = json.dumps(payload, separators=(",", ":")).encode()
        key = str(payload.get("transaction_id") or payload.get("card_id") or random.random())
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(data, key[:256], future))
        self._queued_bytes += len(data) + len(key)
        if len(self._queue) >= MAX_RECORDS_PER_CALL or self._queued_bytes >= MAX_BYTES_PER_CALL:
            self._start_call(self._take())
        else:
            self._wakeup.set()
        return await future

    async def flush(self) -> None:
        while self._queue:
            self._start_call(self._take())
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        size = 0
        while self._queue and len(taken) < MAX_RECORDS_PER_CALL:
            record = self._queue[0]
            record_size = len(record.data) + len(record.partition_key)
            if taken and size + record_size > MAX_BYTES_PER_CALL:
                break
            taken.append(self._queue.pop(0))
            size += record_size
        self._queued_bytes = sum(len(p.data) + len(p.partition_key) for p in self._queue)
        return taken

    def _start_call(self, records: list[_Pending]) -> None:
        if not records:
            return
        task = asyncio.create_task(self._put(records))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _flush_loop(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(self._linger)
            while self._queue:
                self._start_call(self._take())

    async def _put(self, records: list[_Pending]) -> None:
        pending = records
        for attempt in range(self._backoff.attempts):
            try:
                async with self._calls:
                    self.calls += 1
                    response = await asyncio.to_thread(
                        self._client.put_records, StreamName=self._stream,
                        Records=[{"Data": p.data, "PartitionKey": p.partition_key}
                                 for p in pending],
                    )
            except ClientError as error:
                if not is_throttle(error) or attempt + 1 == self._backoff.attempts:
                    _resolve_all(pending, "http_429" if is_throttle(error) else "other")
                    return
                await asyncio.sleep(self._backoff.delay(attempt))
                continue
            except BotoCoreError:
                _resolve_all(pending, "connect")
                return
            pending = _settle(pending, response["Records"])
            if not pending:
                return
            await asyncio.sleep(self._backoff.delay(attempt))
        _resolve_all(pending, "http_429")


def _settle(pending: list[_Pending], results: list[dict[str, Any]]) -> list[_Pending]:
    """Resolve accepted and permanently failed records; return the throttled ones to retry."""
    retry = []
    for record, result in zip(pending, results, strict=True):
        code = result.get("ErrorCode")
        if not code:
            _resolve(record, Outcome(OUTCOME_OK, {
                "decision": "ingested", "shard_id": result.get("ShardId"),
                "sequence_number": result.get("SequenceNumber"),
            }))
        elif code in ("ProvisionedThroughputExceededException", "InternalFailure"):
            retry.append(record)
        else:
            _resolve(record, Outcome("other"))
    return retry


def _resolve(record: _Pending, outcome: Outcome) -> None:
    if not record.future.done():
        record.future.set_result(outcome)


def _resolve_all(records: list[_Pending], kind: str) -> None:
    for record in records:
        _resolve(record, Outcome(kind))


__all__ = ["Backoff", "KinesisMetricsSink", "KinesisTarget", "MetricsNotDelivered", "error_code"]
