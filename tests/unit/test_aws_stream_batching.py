"""The stream kinds' batching and decision matching, with an in-memory put (no AWS)."""

from __future__ import annotations

import asyncio
from collections import Counter

from botocore.exceptions import ClientError

from stresslab.ports import Outcome
from stresslab.targets import aws_streams as streams
from stresslab.targets.aws_calls import BoundedCalls
from stresslab.targets.aws_streams import (
    DecisionWaits,
    KinesisDecisions,
    QueueDecisions,
    _Batcher,
    _Put,
)
from stresslab.targets.response import compile_path


def recording_put(batches: list[list[bytes]], refuse: bytes | None = None):
    def put(batch: list[_Put]) -> list[Outcome | None]:
        batches.append([item.body for item in batch])
        return [Outcome("http_429") if item.body == refuse else None for item in batch]

    return put


async def test_batches_keep_to_the_record_and_byte_limits_and_every_put_ends():
    # Given a batcher of at most 3 records and 100 bytes
    batches: list[list[bytes]] = []
    calls = BoundedCalls(2, "test")
    batcher = _Batcher(recording_put(batches, refuse=b"x" * 39), (3, 100), calls)
    runner = asyncio.create_task(batcher.run())
    try:
        # When 7 bodies of 40 bytes (one refused) and 4 of 10 bytes are put at once
        bodies = [bytes([65 + i]) * 40 for i in range(6)] + [b"x" * 39] + [b"s" * 10] * 4
        results = await asyncio.gather(*(batcher.put(body, "k") for body in bodies))
    finally:
        runner.cancel()
        calls.close()
    # Then no batch breaks a limit, each body was put exactly once, in the order given
    assert all(len(batch) <= 3 and sum(map(len, batch)) <= 100 for batch in batches)
    assert [body for batch in batches for body in batch] == bodies
    # and only the refused one has an outcome: the rest were accepted
    assert [r.kind if r else None for r in results] == [None] * 6 + ["http_429"] + [None] * 4


async def test_a_decision_resolves_its_wait_once_and_others_are_told_apart():
    # Given two transactions of this worker waiting
    waits = DecisionWaits()
    first, second = waits.expect("run/0/1"), waits.expect("run/0/2")
    # When a decision arrives twice, one arrives for another worker, one for a finished wait
    waits.decided("run/0/1", {"verdict": "ACCEPT"})
    waits.decided("run/0/1", {"verdict": "DECLINE"})
    waits.decided("run/1/1", {"verdict": "ACCEPT"})
    waits.forget("run/0/2")
    waits.decided("run/0/2", {"verdict": "ACCEPT"})
    # Then the first keeps its first decision; the copies and the late one are counted apart
    assert first.result() == {"verdict": "ACCEPT"} and not second.done()
    assert (waits.seen, waits.duplicates_or_late, waits.others) == (1, 2, 1)
    assert waits.owns("run/0/99") and not waits.owns("run/1/1")


class TwoShards:
    """Kinesis with two shards of decisions; every read of the first is throttled."""

    def __init__(self) -> None:
        self.records = {"shard-0": [b'{"id": "run/0/1"}'], "shard-1": [b'{"id": "run/0/2"}']}
        self.reads = Counter[str]()

    def list_shards(self, **_: object) -> dict[str, object]:
        return {"Shards": [{"ShardId": shard} for shard in self.records]}

    def get_shard_iterator(self, ShardId: str, **_: object) -> dict[str, str]:  # noqa: N803
        return {"ShardIterator": ShardId}

    def get_records(self, ShardIterator: str, **_: object) -> dict[str, object]:  # noqa: N803
        self.reads[ShardIterator] += 1
        if ShardIterator == "shard-0":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}},
                              "GetRecords")
        records, self.records[ShardIterator] = self.records[ShardIterator], []
        return {"Records": [{"Data": data} for data in records],
                "NextShardIterator": ShardIterator}


async def test_a_throttled_shard_slows_the_reads_but_starves_no_other_shard():
    # Given a decision stream whose first shard is throttled on every read
    waits, kinesis, calls = DecisionWaits(), TwoShards(), BoundedCalls(2, "test")
    decision = waits.expect("run/0/2")
    reader = KinesisDecisions(kinesis, "decisions", waits, compile_path("id"), calls)
    await reader.open()
    running = asyncio.create_task(reader.run())
    try:
        # When it is read for a while / Then the second shard's decision is still seen
        async with asyncio.timeout(10):
            assert await decision == {"id": "run/0/2"}
    finally:
        running.cancel()
        calls.close()
    assert waits.read_errors >= 1 and kinesis.reads["shard-1"] >= 1


class OneQueue:
    """An in-memory SQS that answers each ReceiveMessage with the next listed delivery."""

    def __init__(self, deliveries: list[tuple[str, str]]) -> None:
        self._deliveries = iter(deliveries)
        self.received = 0
        self.deleted: list[str] = []

    def receive_message(self, **_: object) -> dict[str, object]:
        message_id, ref = next(self._deliveries, ("", ""))
        if not message_id:
            return {"Messages": []}
        self.received += 1  # each delivery has its own receipt handle
        body = f'{{"txn": {{"ref": "{ref}"}}, "verdict": "ACCEPT"}}'
        receipt = f"{message_id}-{self.received}"
        return {"Messages": [{"MessageId": message_id, "ReceiptHandle": receipt, "Body": body}]}

    def delete_message_batch(
        self, QueueUrl: str, Entries: list[dict[str, str]],  # noqa: N803
    ) -> dict[str, list[object]]:
        self.deleted += [entry["ReceiptHandle"] for entry in Entries]
        return {"Successful": [], "Failed": []}


async def test_queue_message_ids_are_remembered_up_to_a_bound(monkeypatch):
    # Given a worker that remembers its last 2 decision message ids
    monkeypatch.setattr(streams, "QUEUE_IDS_KEPT", 2)
    waits = DecisionWaits()
    for seq in (1, 2, 3):
        waits.expect(f"run/0/{seq}")
    queue = OneQueue([("m1", "run/0/1"), ("m1", "run/0/1"), ("m2", "run/0/2"),
                      ("m3", "run/0/3"), ("m3", "run/0/3")])
    calls = BoundedCalls(1, "test")
    reader = QueueDecisions(queue, "q", waits, compile_path("txn.ref"), calls)
    poll = asyncio.create_task(reader._poll_once())
    try:
        for _ in range(100):
            if len(queue.deleted) == 5:
                break
            await asyncio.sleep(0.01)
    finally:
        poll.cancel()
        calls.close()
    # Then each message delivered again is deleted and counted as redelivered, not as a copy,
    # and only the newest ids are kept
    assert (waits.seen, waits.redelivered, waits.duplicates_or_late) == (3, 2, 0)
    assert queue.deleted == ["m1-1", "m1-2", "m2-3", "m3-4", "m3-5"]
    assert list(reader._handled) == ["m2", "m3"]
