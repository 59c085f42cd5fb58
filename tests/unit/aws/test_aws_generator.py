"""The load generator's logic on a virtual clock: the core worker, the kill switch, results."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stresslab.aws.generator import LoadEvent, RunStopped, WaveOverrun, run_work_item
from stresslab.aws.planning import RunTarget
from tests.fakes import WALL_OFFSET, FakeClock, ListSink, ScriptedTarget

SPEC = {"name": "gen", "workers": 2, "seed": 1,
        "phases": [{"shape": "constant", "tps": 20, "duration": "10s"}]}


def event(**item: Any) -> LoadEvent:
    base = {"run_id": "r1", "wave": 0, "shard": 1, "shards": 2, "start_s": 0, "end_s": 10,
            "run_started_at": 100.0 + WALL_OFFSET, "spec": SPEC,
            "target": {"url": "http://127.0.0.1:9/v1/score"}}
    return LoadEvent(item={**base, **item})


class Switch:
    """Names the run from the n-th read on."""

    def __init__(self, from_read: int | None) -> None:
        self.from_read, self.reads = from_read, 0

    def stops(self, run_id: str) -> bool:
        self.reads += 1
        return self.from_read is not None and self.reads >= self.from_read


def opener(clock: FakeClock) -> Any:
    @contextlib.asynccontextmanager
    async def open_target(target: RunTarget, spec: Any) -> AsyncIterator[ScriptedTarget]:
        yield ScriptedTarget(clock)

    return open_target


async def test_a_shard_runs_its_half_of_the_wave_and_reports_every_second() -> None:
    clock, sink = FakeClock(), ListSink()

    result = await clock.drive(run_work_item(
        event().work_item(), sink, opener(clock), Switch(None), lambda: 900.0, clock=clock))

    assert result.worker_id == "w0-s1" and result.scheduled == 100 == result.sent
    assert result.completed == 100 and not result.aborted
    assert [b.seq for b in sink.batches] == list(range(len(sink.batches)))
    assert sink.batches[-1].final and sum(b.ok for b in sink.batches) == 100


async def test_a_retry_reports_under_its_own_worker_id() -> None:
    assert LoadEvent(item=event().item, attempt=2).work_item().worker_id == "w0-s1-r2"


async def test_the_kill_switch_stops_scheduling_and_the_batches_still_arrive() -> None:
    clock, sink = FakeClock(), ListSink()

    with pytest.raises(RunStopped, match="stopped by the kill switch"):
        await clock.drive(run_work_item(
            event().work_item(), sink, opener(clock), Switch(from_read=4), lambda: 900.0,
            clock=clock))

    assert sink.batches and sink.batches[-1].final
    assert 0 < sum(b.scheduled for b in sink.batches) < 100


async def test_a_run_already_stopped_sends_nothing() -> None:
    clock, sink = FakeClock(), ListSink()
    with pytest.raises(RunStopped, match="before w0-s1 started"):
        await clock.drive(run_work_item(event().work_item(), sink, opener(clock), Switch(1),
                                        lambda: 900.0, clock=clock))
    assert sink.batches == []


async def test_the_worker_stops_before_lambdas_time_limit() -> None:
    clock, sink = FakeClock(), ListSink()
    with pytest.raises(WaveOverrun):
        await clock.drive(run_work_item(event().work_item(), sink, opener(clock), Switch(None),
                                        lambda: 5.0, clock=clock))
    assert sink.batches[-1].final
