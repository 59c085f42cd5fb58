"""The worker's task-free path to a plain HTTP target: every arrival sent, answered and scored."""

from __future__ import annotations

import pytest

from stresslab.generation.plan import WorkAssignment
from stresslab.generation.worker import ShardWorker
from stresslab.measurement.metrics import WindowStats
from stresslab.ports import RealClock
from stresslab.scenario.spec import parse_scenario
from stresslab.targets.http import HttpTarget
from tests.fakes import ListSink

pytestmark = pytest.mark.timeout(60)


async def test_a_plain_post_goes_by_the_task_free_path_and_every_count_reconciles(
    nginx, monkeypatch
):
    # Given nginx answering "approve", and an HttpTarget whose awaitable `send` is broken,
    # so any request that took that path would count as an `other` error
    async def broken(self, payload):
        raise RuntimeError("the worker must not await send for a plain POST")

    monkeypatch.setattr(HttpTarget, "send", broken)
    spec = parse_scenario({
        "name": "lane", "phases": [{"shape": "constant", "tps": 300, "duration": 2}],
    }, "test")
    clock = RealClock()
    assignment = WorkAssignment(run_id="run", worker_id="w0-s0", wave=0, shard=0, shards=1,
                                start_s=0, end_s=2, run_started_at=clock.wall())
    sink = ListSink()
    # When one worker runs its 600 arrivals through the real client
    async with HttpTarget(nginx.url, spec.http) as target:
        totals = await ShardWorker(assignment, spec, target, sink, clock).run()
    stats = WindowStats.merged(WindowStats.from_batch(b) for b in sink.batches)
    # Then each went out once, came back ok, was scored and timed, and nginx saw each once
    assert stats.scheduled == stats.sent == stats.ok == totals.completed == 600
    assert stats.error_total == stats.timeouts == stats.dropped == 0
    assert stats.tn + stats.fn == 600  # "approve" for everything: fraud missed, legit passed
    assert stats.latency.get_total_count() == stats.lag.get_total_count() == 600
    assert nginx.requests_logged(600) == 600
