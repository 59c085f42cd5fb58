"""A worker whose target slows down: in-flight requests pile up to their bound, hold no more
than they must while they wait, and everything they held is let go once answers come again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from stresslab.generation.plan import WorkAssignment
from stresslab.generation.worker import ShardWorker
from stresslab.measurement.metrics import MetricsBatch
from stresslab.ports import RealClock
from stresslab.scenario.spec import HttpSettings, parse_scenario
from stresslab.targets.http import HttpTarget

pytestmark = pytest.mark.timeout(60)


class SlowService:
    """A loopback scoring service whose answers take `delay` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.url = ""

    async def score(self, request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(self.delay)
        return web.json_response({"decision": "approve"})


@pytest.fixture
async def service() -> AsyncIterator[SlowService]:
    slow = SlowService()
    app = web.Application()
    app.router.add_post("/v1/score", slow.score)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    slow.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/score"  # type: ignore[union-attr]
    yield slow
    await runner.cleanup()


async def test_requests_waiting_for_a_connection_hold_no_rendered_body(service: SlowService):
    # Given a target of one connection whose answers are slow, and its bodies counted as made
    service.delay = 0.5
    rendered = 0
    async with HttpTarget(service.url, HttpSettings(connections=1)) as target:
        render = target._render

        def counting(payload: Any) -> bytes:
            nonlocal rendered
            rendered += 1
            return render(payload)

        target._render = counting
        # When ten requests are sent at once (one on the connection, nine waiting for it)
        sends = [asyncio.create_task(target.send({"n": n})) for n in range(10)]
        await asyncio.sleep(0.25)
        # Then only the one on the connection has had its body made
        assert rendered == 1
        outcomes = await asyncio.gather(*sends)
    assert [o.kind for o in outcomes] == ["ok"] * 10 and rendered == 10


def client_tasks() -> int:
    """The loop's tasks but the loopback service's own (one per keep-alive connection)."""
    return sum(1 for task in asyncio.all_tasks()
               if "RequestHandler" not in getattr(task.get_coro(), "__qualname__", ""))


class Sink:
    def __init__(self) -> None:
        self.in_flight: list[int] = []

    async def emit(self, batch: MetricsBatch) -> None:
        self.in_flight.append(batch.health.in_flight)


async def test_after_a_pile_up_the_worker_holds_what_it_held_before(service: SlowService):
    # Given a worker sending 200 TPS for 6 s, at most 120 in flight over at most 20 connections
    spec = parse_scenario({
        "name": "pileup", "workers": 1, "seed": 3,
        "phases": [{"name": "p", "shape": "constant", "tps": 200, "duration": 6}],
        "http": {"max_in_flight": 120, "connections": 20},
    }, "test")
    started = time.time() + 0.1
    assignment = WorkAssignment(run_id="r", worker_id="w0-s0", wave=0, shard=0, shards=1,
                                start_s=0, end_s=6, run_started_at=started)
    sink = Sink()
    async with HttpTarget(service.url, spec.http) as target:
        worker = ShardWorker(assignment, spec, target, sink, RealClock())
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(started + 1 - time.time())
        tasks_before = client_tasks()
        # When the target answers in 2 s for a second, then at once again
        service.delay = 2.0
        await asyncio.sleep(1.0)
        service.delay = 0.0
        totals = await running
        pool = target._pool
        # Then the requests piled up to their bound, and no further
        assert max(sink.in_flight) == 120 and totals.dropped > 0
        # And once answered, no request, task or waiter is left, nor a connection past the pool
        assert totals.completed == totals.sent
        assert not worker._tasks and worker._in_flight == 0
        assert client_tasks() <= tasks_before
        assert not pool._waiters and pool._open <= 20
