"""Kinesis and SQS targets: each transaction put on the platform's input, its decision read back.

A send waits for the decision to appear in the outcome source (a Kinesis stream, an SQS queue
or a DynamoDB table, matched by transaction id), so the worker's latency is decision seen minus
intended send time, and no decision within `timeout` is a timeout. Records a put refuses are
counted as errors by class; a decision seen twice counts once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol

import orjson
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Outcome
from stresslab.targets.aws_calls import (
    DEFAULT_TIMEOUT_S,
    THROTTLES,
    BoundedCalls,
    check_usable,
    error_code,
    outcome_of_error,
)
from stresslab.targets.config import KinesisTarget, OutcomeSource, SqsTarget
from stresslab.targets.decision_waits import DecisionWaits
from stresslab.targets.response import compile_path
from stresslab.targets.template import RenderBody

LINGER_S = 0.005  # a batch waits this long for company; the issue allows "a few ms"
KINESIS_BATCH = (500, 5 * 1024 * 1024)  # PutRecords: records, bytes
SQS_BATCH = (10, 256 * 1024)  # SendMessageBatch: entries, bytes
PUT_THREADS = 16
KINESIS_POLL_S = 0.2  # GetRecords allows 5 calls a second per shard
KINESIS_MAX_POLL_S = 2.0
TABLE_POLL_S = 0.05
TABLE_KEYS_PER_CALL = 100  # BatchGetItem's limit
QUEUE_POLLERS = 4
QUEUE_WAIT_S = 1
QUEUE_IDS_KEPT = 100_000  # message ids remembered to tell a redelivery (about 10 MB)
READ_RETRY_S = 0.5
FOREIGN_BACKOFF_S = 0.05


def _plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) as JSON numbers, so the mapping reads them like any answer."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(item) for item in value]
    return value


class DecisionSource(Protocol):
    """Reads decisions from where the platform writes them and hands them to the waits."""

    async def open(self) -> None: ...

    async def run(self) -> None: ...


@dataclass
class _Put:
    body: bytes
    partition_key: str
    done: asyncio.Future[Outcome | None]


class _Batcher:
    """Gathers puts for up to LINGER_S (or a full batch) and sends them in one call."""

    def __init__(
        self, put_batch: Callable[[list[_Put]], list[Outcome | None]], limits: tuple[int, int],
        calls: BoundedCalls,
    ) -> None:
        self._put_batch = put_batch
        self._records, self._bytes = limits
        self._calls = calls
        self._queue: asyncio.Queue[_Put] = asyncio.Queue()
        self._flights: set[asyncio.Task[None]] = set()

    async def put(self, body: bytes, partition_key: str) -> Outcome | None:
        """None when the platform accepted the record, else what counts for it."""
        done: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Put(body, partition_key, done))
        return await done

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        carried: _Put | None = None
        while True:
            first = carried or await self._queue.get()
            batch, size, carried = [first], len(first.body), None
            closes = loop.time() + LINGER_S
            while len(batch) < self._records:
                try:
                    async with asyncio.timeout_at(closes):
                        head = await self._queue.get()
                except TimeoutError:
                    break
                if size + len(head.body) > self._bytes:
                    carried = head  # the first of the next batch
                    break
                batch.append(head)
                size += len(head.body)
            self._launch(batch)

    def _launch(self, batch: list[_Put]) -> None:
        flight = asyncio.create_task(self._send(batch))
        self._flights.add(flight)
        flight.add_done_callback(self._flights.discard)

    async def _send(self, batch: list[_Put]) -> None:
        try:
            results = await self._calls.run(self._put_batch, batch)
        except Exception as error:  # noqa: BLE001 - a failed call fails each record in it
            failed = outcome_of_error(error)
            results = [failed] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if not item.done.done():
                item.done.set_result(result)


def _refused(code: str) -> Outcome:
    return Outcome("http_429" if code in THROTTLES else "http_5xx")


def _kinesis_put(client: Any, stream: str) -> Callable[[list[_Put]], list[Outcome | None]]:
    def put(batch: list[_Put]) -> list[Outcome | None]:
        answer = client.put_records(StreamName=stream, Records=[
            {"Data": item.body, "PartitionKey": item.partition_key} for item in batch
        ])
        # one result per record, in order; a failed one has an ErrorCode
        return [
            _refused(str(result["ErrorCode"])) if result.get("ErrorCode") else None
            for result in answer["Records"]
        ]

    return put


def _sqs_put(client: Any, queue_url: str) -> Callable[[list[_Put]], list[Outcome | None]]:
    def put(batch: list[_Put]) -> list[Outcome | None]:
        answer = client.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(index), "MessageBody": item.body.decode()}
            for index, item in enumerate(batch)
        ])
        results: list[Outcome | None] = [None] * len(batch)
        for failure in answer.get("Failed", []):
            results[int(failure["Id"])] = (
                Outcome("http_4xx") if failure.get("SenderFault") else _refused(failure["Code"])
            )
        return results

    return put


class KinesisDecisions:
    """Reads every shard of the decision stream from its tip (opened before the first send)."""

    def __init__(self, client: Any, stream: str, waits: DecisionWaits, read_id: Any,
                 calls: BoundedCalls) -> None:
        self._client, self._stream, self._waits = client, stream, waits
        self._read_id, self._calls = read_id, calls
        self._iterators: dict[str, str] = {}
        self._started: set[str] = set()
        self._pause = KINESIS_POLL_S

    async def open(self) -> None:
        await self._discover("LATEST")

    async def _discover(self, position: str) -> None:
        shards = await self._calls.run(_all_shards, self._client, self._stream)
        for shard in shards:
            if shard in self._started:
                continue
            self._started.add(shard)
            answer = await self._calls.run(
                self._client.get_shard_iterator, StreamName=self._stream, ShardId=shard,
                ShardIteratorType=position,
            )
            self._iterators[shard] = answer["ShardIterator"]

    async def run(self) -> None:
        await _keep_reading(self._read_once, self._waits)

    async def _read_once(self) -> None:
        while True:
            throttled = False
            for shard, iterator in list(self._iterators.items()):
                try:
                    answer = await self._calls.run(
                        self._client.get_records, ShardIterator=iterator, Limit=10_000
                    )
                except ClientError as error:
                    # every reader shares a shard's 5 reads a second: slow down, and read the
                    # other shards meanwhile rather than retry this one first forever
                    if error_code(error) not in THROTTLES:
                        raise
                    self._waits.read_errors += 1
                    throttled = True
                    continue
                for record in answer.get("Records", []):
                    _offer(self._waits, self._read_id, record["Data"])
                following = answer.get("NextShardIterator")
                if following:
                    self._iterators[shard] = following
                else:  # split or merged: its children hold what follows, from their start
                    del self._iterators[shard]
                    await self._discover("TRIM_HORIZON")
            pause = self._pause * 2 if throttled else self._pause - KINESIS_POLL_S / 4
            self._pause = min(max(pause, KINESIS_POLL_S), KINESIS_MAX_POLL_S)
            await asyncio.sleep(self._pause)


def _all_shards(client: Any, stream: str) -> list[str]:
    shards: list[str] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        answer = client.list_shards(**kwargs)
        shards += [shard["ShardId"] for shard in answer["Shards"]]
        token = answer.get("NextToken")
        if not token:
            return shards
        kwargs = {"NextToken": token}


class QueueDecisions:
    """Long-polls the decision queue; deletes this worker's decisions, releases the others'.

    SQS delivers at least once: a message comes again when its visibility timeout ran out
    before the delete (a slow worker) and, rarely, even within it. The same MessageId is
    counted once; only a second message with the same decision is a copy."""

    def __init__(self, client: Any, queue_url: str, waits: DecisionWaits, read_id: Any,
                 calls: BoundedCalls) -> None:
        self._client, self._queue_url, self._waits = client, queue_url, waits
        self._read_id, self._calls = read_id, calls
        self._handled: dict[str, None] = {}  # this worker's message ids, oldest first

    async def open(self) -> None:
        pass

    async def run(self) -> None:
        async with asyncio.TaskGroup() as pollers:
            for _ in range(QUEUE_POLLERS):
                pollers.create_task(self._poll())

    async def _poll(self) -> None:
        await _keep_reading(self._poll_once, self._waits)

    async def _poll_once(self) -> None:
        while True:
            answer = await self._calls.run(
                self._client.receive_message, QueueUrl=self._queue_url,
                MaxNumberOfMessages=10, WaitTimeSeconds=QUEUE_WAIT_S,
            )
            mine: list[str] = []
            others: list[str] = []
            for message in answer.get("Messages", []):
                if message["MessageId"] in self._handled:  # deleted again, by its new receipt
                    self._waits.redelivered += 1
                    mine.append(message["ReceiptHandle"])
                    continue
                transaction_id = _offer(self._waits, self._read_id, message["Body"])
                # another worker's decision (several share the queue) goes back at once
                owned = transaction_id is None or self._waits.owns(transaction_id)
                (mine if owned else others).append(message["ReceiptHandle"])
                if owned:
                    self._remember(message["MessageId"])
            if mine:
                await self._calls.run(self._client.delete_message_batch, QueueUrl=self._queue_url,
                                      Entries=_entries(mine))
            if others:
                await self._calls.run(
                    self._client.change_message_visibility_batch, QueueUrl=self._queue_url,
                    Entries=[{**entry, "VisibilityTimeout": 0} for entry in _entries(others)],
                )
                if not mine:  # leave the others' decisions to their workers for a moment
                    await asyncio.sleep(FOREIGN_BACKOFF_S)


    def _remember(self, message_id: str) -> None:
        self._handled[message_id] = None
        if len(self._handled) > QUEUE_IDS_KEPT:
            del self._handled[next(iter(self._handled))]


def _entries(receipts: list[str]) -> list[dict[str, Any]]:
    return [{"Id": str(index), "ReceiptHandle": receipt} for index, receipt in enumerate(receipts)]


class TableDecisions:
    """Looks up the waiting transactions' decisions by key (strongly consistent BatchGetItem)."""

    def __init__(self, client: Any, table: str, key: str, waits: DecisionWaits,
                 calls: BoundedCalls) -> None:
        self._client, self._table, self._key, self._waits = client, table, key, waits
        self._calls = calls
        self._types = TypeDeserializer()

    async def open(self) -> None:
        pass

    async def run(self) -> None:
        await _keep_reading(self._look_up, self._waits)

    async def _look_up(self) -> None:
        while True:
            pending = self._waits.pending()
            for start in range(0, len(pending), TABLE_KEYS_PER_CALL):
                keys = [{self._key: {"S": key}}
                        for key in pending[start:start + TABLE_KEYS_PER_CALL]]
                answer = await self._calls.run(self._client.batch_get_item, RequestItems={
                    self._table: {"Keys": keys, "ConsistentRead": True},
                })  # unprocessed keys are still pending: asked again next round
                for item in answer.get("Responses", {}).get(self._table, []):
                    record = _plain({name: self._types.deserialize(value)
                                     for name, value in item.items()})
                    self._waits.decided(str(record[self._key]), record)
            await asyncio.sleep(TABLE_POLL_S)


async def _keep_reading(read: Callable[[], Any], waits: DecisionWaits) -> None:
    """A failed read (throttled, expired iterator) is counted and retried, never fatal."""
    while True:
        try:
            await read()
        except Exception:  # noqa: BLE001 - waits that see no decision end as timeouts
            waits.read_errors += 1
            await asyncio.sleep(READ_RETRY_S)


def _offer(waits: DecisionWaits, read_id: Any, raw: bytes | str) -> str | None:
    """Hands a decision record to its wait; its transaction id, or None when unreadable."""
    try:
        record = orjson.loads(raw)
        transaction_id = str(read_id(record))
    except (orjson.JSONDecodeError, KeyError):
        waits.unreadable += 1
        return None
    waits.decided(transaction_id, record)
    return transaction_id


@dataclass(frozen=True)
class Clients:
    """The SDK clients the kind needs (input and outcome may be different services)."""

    kinesis: Any = None
    sqs: Any = None
    dynamodb: Any = None


class StreamTarget:
    """A Target over an asynchronous entry point: put, then wait for the decision."""

    def __init__(
        self, target: KinesisTarget | SqsTarget, clients: Clients,
        render: RenderBody | None = None,
    ) -> None:
        self._target = target
        self._clients = clients
        self._render = render or orjson.dumps
        self._timeout = target.timeout or DEFAULT_TIMEOUT_S
        self._calls = BoundedCalls(PUT_THREADS + QUEUE_POLLERS + 2, f"{target.kind}-target")
        self.waits = DecisionWaits()
        if isinstance(target, KinesisTarget):
            self._batcher = _Batcher(_kinesis_put(clients.kinesis, target.stream),
                                     KINESIS_BATCH, self._calls)
            self._partition_key: Callable[[Any], Any] = compile_path(target.partition_key)
        else:
            self._batcher = _Batcher(_sqs_put(clients.sqs, target.queue_url),
                                     SQS_BATCH, self._calls)
            self._partition_key = lambda _: ""
        self._source = _decision_source(target.outcome, clients, self.waits, self._calls)
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> StreamTarget:
        await self._check_exists()
        await self._source.open()
        self._tasks = [asyncio.create_task(self._batcher.run()),
                       asyncio.create_task(self._source.run())]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._calls.close()

    async def send(self, payload: dict[str, Any]) -> Outcome:
        transaction_id = str(payload["transaction_id"])
        decision = self.waits.expect(transaction_id)
        try:
            async with asyncio.timeout(self._timeout):
                refused = await self._batcher.put(
                    self._render(payload), _key_text(self._partition_key, payload)
                )
                if refused is not None:
                    return refused
                return Outcome(OUTCOME_OK, await decision)
        except TimeoutError:
            return Outcome(OUTCOME_TIMEOUT)
        finally:
            self.waits.forget(transaction_id)

    async def _check_exists(self) -> None:
        await self._calls.run(check_stream_resources, self._target, self._clients)


def check_stream_resources(target: KinesisTarget | SqsTarget, clients: Clients) -> None:
    """TargetUnavailable, one line naming the stream, queue or table that cannot be used."""
    outcome = target.outcome
    checks: list[tuple[str, Callable[[], Any]]] = []
    if isinstance(target, KinesisTarget):
        checks.append((f"target.stream: Kinesis stream {target.stream!r}", lambda: (
            clients.kinesis.describe_stream_summary(StreamName=target.stream))))
    else:
        checks.append((f"target.queue_url: SQS queue {target.queue_url}", lambda: (
            clients.sqs.get_queue_attributes(QueueUrl=target.queue_url,
                                             AttributeNames=["QueueArn"]))))
    if outcome.kinesis:
        stream = outcome.kinesis
        checks.append((f"target.outcome.kinesis: Kinesis stream {stream!r}", lambda: (
            clients.kinesis.describe_stream_summary(StreamName=stream))))
    elif outcome.sqs:
        queue = outcome.sqs
        checks.append((f"target.outcome.sqs: SQS queue {queue}", lambda: (
            clients.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"]))))
    elif outcome.dynamodb:
        table = outcome.dynamodb
        checks.append((f"target.outcome.dynamodb: DynamoDB table {table!r}", lambda: (
            clients.dynamodb.describe_table(TableName=table))))
    for name, check in checks:
        check_usable(name, check)


def _key_text(partition_key: Callable[[Any], Any], payload: dict[str, Any]) -> str:
    try:
        value = partition_key(payload)
    except KeyError:
        value = None
    # an optional object (device) absent: the transaction id spreads the load instead
    return str(value) if value not in (None, "") else str(payload["transaction_id"])


def _decision_source(
    outcome: OutcomeSource, clients: Clients, waits: DecisionWaits, calls: BoundedCalls
) -> DecisionSource:
    read_id = compile_path(outcome.transaction_id)
    if outcome.kinesis:
        return KinesisDecisions(clients.kinesis, outcome.kinesis, waits, read_id, calls)
    if outcome.sqs:
        return QueueDecisions(clients.sqs, outcome.sqs, waits, read_id, calls)
    assert outcome.dynamodb is not None
    return TableDecisions(clients.dynamodb, outcome.dynamodb, outcome.key, waits, calls)
