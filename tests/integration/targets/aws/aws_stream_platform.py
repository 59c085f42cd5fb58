"""A platform fed by Kinesis or SQS that writes decisions to a stream, a queue or a table.

It runs in a thread against moto in server mode on 127.0.0.1, reads what stresslab put, and
answers in its own schema: most transactions get a decision, some get it twice (a redelivery),
some never (they must end as timeouts). Its ledger is the count to reconcile against.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from moto.kinesis.models import Shard
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACTIONS = ("ACCEPT", "CHALLENGE", "DECLINE")
MAPPING = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
SILENT_EVERY = 10  # every 10th transaction gets no decision
TWICE_EVERY = 7  # every 7th gets its decision twice


@contextmanager
def moto_server() -> Iterator[str]:
    """moto on 127.0.0.1 with PutRecord serialised (moto's shards are not thread-safe)."""
    lock = threading.Lock()
    original = Shard.put_record

    def serialised(shard: Shard, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(shard, *args, **kwargs)

    Shard.put_record = serialised  # type: ignore[method-assign,assignment]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - our moto on loopback
            f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        yield url
    finally:
        server.stop()
        Shard.put_record = original  # type: ignore[method-assign]


def client(service: str, url: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION,
    ).client(service, endpoint_url=url)


def action_for(body: dict[str, Any]) -> str:
    minor = int(body["value"]["minor"])
    return ACTIONS[2] if minor > 50_000 else ACTIONS[1] if minor > 20_000 else ACTIONS[0]


@dataclass
class Platform:
    """Reads the input (stream or queue), writes decisions to the outcome (stream, queue, table)."""

    url: str
    source: tuple[str, str]  # ("kinesis", stream) or ("sqs", queue URL)
    outcome: tuple[str, str]  # ("kinesis", stream), ("sqs", queue URL) or ("dynamodb", table)
    received: list[str] = field(default_factory=list)
    decided: dict[str, str] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    keys_seen: set[str] = field(default_factory=set)  # what the body carried as api_key
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Platform:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        reader = client(self.source[0], self.url)
        writer = client(self.outcome[0], self.url)
        for bodies in self._batches(reader):
            decisions = [d for body in bodies for d in self._decide(orjson.loads(body))]
            self._write(writer, decisions)

    def _batches(self, reader: Any) -> Iterator[list[bytes]]:
        if self.source[0] == "kinesis":
            stream = self.source[1]
            shards = reader.list_shards(StreamName=stream)["Shards"]
            iterators = [reader.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"] for shard in shards]
            while not self._stop.is_set():
                for index, iterator in enumerate(iterators):
                    answer = reader.get_records(ShardIterator=iterator)
                    iterators[index] = answer["NextShardIterator"]
                    if answer["Records"]:
                        yield [record["Data"] for record in answer["Records"]]
                time.sleep(0.02)
        else:
            queue = self.source[1]
            while not self._stop.is_set():
                messages = reader.receive_message(
                    QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    time.sleep(0.02)
                    continue
                yield [message["Body"].encode() for message in messages]
                reader.delete_message_batch(QueueUrl=queue, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ])

    def _decide(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        ref = body["txn_ref"]
        if "api_key" in body:
            self.keys_seen.add(body["api_key"])
        self.received.append(ref)
        seq = len(self.received)
        if seq % SILENT_EVERY == 0:
            self.silent.append(ref)
            return []
        action = action_for(body)
        self.decided[ref] = action
        decision = {"txn": {"ref": ref}, "verdict": action, "model": "gbm-7"}
        if seq % TWICE_EVERY == 0:
            self.twice.append(ref)
            return [decision, decision]
        return [decision]

    def _write(self, writer: Any, decisions: list[dict[str, Any]]) -> None:
        kind, name = self.outcome
        if kind == "kinesis":
            for start in range(0, len(decisions), 500):
                writer.put_records(StreamName=name, Records=[
                    {"Data": orjson.dumps(d), "PartitionKey": d["txn"]["ref"]}
                    for d in decisions[start:start + 500]
                ])
        elif kind == "sqs":
            for start in range(0, len(decisions), 10):
                writer.send_message_batch(QueueUrl=name, Entries=[
                    {"Id": str(i), "MessageBody": orjson.dumps(d).decode()}
                    for i, d in enumerate(decisions[start:start + 10])
                ])
        else:
            for decision in decisions:
                writer.put_item(TableName=name, Item={
                    "transaction_id": {"S": decision["txn"]["ref"]},
                    "verdict": {"S": decision["verdict"]}, "score": {"N": "0.25"},
                })


def make_stream(url: str, name: str, shards: int = 2) -> str:
    kinesis = client("kinesis", url)
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return name


def make_queue(url: str, name: str) -> str:
    queue_url: str = client("sqs", url).create_queue(QueueName=name)["QueueUrl"]
    return queue_url


def make_table(url: str, name: str) -> str:
    client("dynamodb", url).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"}],
    )
    return name
