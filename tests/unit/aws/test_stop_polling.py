"""How a load generator polls the stop flags, on a virtual clock: rate, jitter, failed reads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stresslab.aws.generator import LoadEvent, run_work_item
from stresslab.aws.kill_switch import StopFlagUnreadable, StopPolling
from stresslab.aws.planning import RunTarget
from tests.fakes import WALL_OFFSET, FakeClock, ListSink, ScriptedTarget

SPEC = {"name": "gen", "workers": 2, "seed": 1,
        "phases": [{"shape": "constant", "tps": 20, "duration": "10s"}]}


def event(**item: Any) -> LoadEvent:
    base = {"run_id": "r1", "wave": 0, "shard": 1, "shards": 2, "start_s": 0, "end_s": 10,
            "run_started_at": 100.0 + WALL_OFFSET, "spec": SPEC,
            "target": {"url": "http://127.0.0.1:9/v1/score"}}
    return LoadEvent(item={**base, **item})


class ScriptedFlags:
    """Answers reads from a script: True/False, or an exception to raise; then `rest`."""

    def __init__(self, clock: FakeClock, script: list[Any], rest: Any = False) -> None:
        self.clock, self.script, self.rest = clock, list(script), rest
        self.read_at: list[float] = []

    def stops(self, run_id: str) -> bool:
        self.read_at.append(self.clock.now())
        answer = self.script.pop(0) if self.script else self.rest
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)


def opener(clock: FakeClock) -> Any:
    @contextlib.asynccontextmanager
    async def open_target(target: RunTarget, spec: Any) -> AsyncIterator[ScriptedTarget]:
        yield ScriptedTarget(clock)

    return open_target


SPEC_60S = {"name": "gen", "workers": 2, "seed": 1,
            "phases": [{"shape": "constant", "tps": 4, "duration": "60s"}]}


def long_item() -> Any:
    return event(spec=SPEC_60S, end_s=60, run_started_at=100.0 + WALL_OFFSET).work_item()


def test_polls_are_seconds_apart_and_jittered() -> None:
    polling = StopPolling(interval_s=3.0, jitter_s=1.0)

    delays = [polling.next_delay(lambda d=d: d) for d in (0.0, 0.5, 1.0)]

    assert delays == [2.0, 3.0, 4.0]


async def test_a_sixty_second_shard_reads_the_flags_every_few_seconds_not_every_second() -> None:
    # Given a worker on a one-minute wave and flags that never stop it
    clock, sink = FakeClock(), ListSink()
    flags = ScriptedFlags(clock, [])

    # When it runs to the end
    result = await clock.drive(run_work_item(long_item(), sink, opener(clock), flags,
                                             lambda: 900.0, clock=clock))

    # Then it read the flags about every 3 s (2-4 s apart), not once a second
    assert not result.aborted
    assert 10 <= len(flags.read_at) <= 60 // 2 + 2, len(flags.read_at)


async def test_a_failed_first_read_is_retried_and_the_worker_runs() -> None:
    # Given a throttled first read
    clock, sink = FakeClock(), ListSink()
    flags = ScriptedFlags(clock, [RuntimeError("ThrottlingException")])

    # When the worker starts
    result = await clock.drive(run_work_item(event().work_item(), sink, opener(clock), flags,
                                             lambda: 900.0, clock=clock))

    # Then the read was retried and the shard ran in full
    assert result.scheduled == 100 == result.sent and not result.aborted


async def test_reads_failing_in_a_row_stop_the_worker_instead_of_being_ignored() -> None:
    # Given flags that answer at first, then fail on every read
    clock, sink = FakeClock(), ListSink()
    flags = ScriptedFlags(clock, [False, False], rest=RuntimeError("AccessDenied"))

    # When the worker runs a one-minute wave
    with pytest.raises(StopFlagUnreadable, match="3 reads in a row"):
        await clock.drive(run_work_item(long_item(), sink, opener(clock), flags, lambda: 900.0,
                                        clock=clock))

    # Then it stopped scheduling soon after (fails closed) and still sent its final batch
    assert sink.batches and sink.batches[-1].final
    assert sum(b.scheduled for b in sink.batches) < 4 * 15


async def test_a_run_stopped_later_ends_within_one_poll() -> None:
    clock, sink = FakeClock(), ListSink()
    flags = ScriptedFlags(clock, [False, False, False, True], rest=True)

    with pytest.raises(Exception, match="stopped by the kill switch"):
        await clock.drive(run_work_item(long_item(), sink, opener(clock), flags, lambda: 900.0,
                                        clock=clock))

    stopped_at = flags.read_at[3]
    assert max(b.window for b in sink.batches) <= stopped_at - 100.0 + 2
