"""The stream kinds' batching and decision matching, with an in-memory put (no AWS)."""

from __future__ import annotations

import asyncio

from stresslab.ports import Outcome
from stresslab.targets.aws_calls import BoundedCalls
from stresslab.targets.aws_streams import DecisionWaits, _Batcher, _Put


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
