"""In-memory fakes for the core's ports: a virtual clock, a scripted target, a list sink."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

from stresslab.measurement.metrics import MetricsBatch
from stresslab.ports import Outcome

WALL_OFFSET = 1_800_000_000.0


class FakeClock:
    """Virtual time: sleeping tasks wake in time order, instantly, when nothing else can run."""

    def __init__(self, start: float = 100.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + WALL_OFFSET

    def advance(self, seconds: float) -> None:
        """Time passes without anyone sleeping (a stalled generator)."""
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(seconds, 0.0), next(self._order), future))
        await future

    async def drive(self, coroutine: Coroutine[Any, Any, Any], limit: int = 5_000_000) -> Any:
        task = asyncio.ensure_future(coroutine)
        for _ in range(limit):
            for _ in range(10):
                await asyncio.sleep(0)
            if task.done():
                return task.result()
            if self._sleepers:
                wake, _, future = heapq.heappop(self._sleepers)
                self._now = max(self._now, wake)
                if not future.cancelled():
                    future.set_result(None)
        raise AssertionError("fake clock: the coroutine never finished")


class ScriptedTarget:
    """Answers after `service_time(payload)` seconds; serial=True queues requests one at a time."""

    def __init__(
        self,
        clock: FakeClock,
        service_time: Callable[[dict[str, Any]], float] = lambda _: 0.002,
        answer: Callable[[dict[str, Any]], Outcome] | None = None,
        serial: bool = False,
    ) -> None:
        self._clock = clock
        self._service_time = service_time
        self._answer = answer or (lambda payload: Outcome("ok", {
            "decision": "block" if payload["amount"] > 500 else "approve",
            "agents": {"transaction_analysis": {"ms": 1.5}, "compliance": {"ms": 0.5}},
        }))
        self._lock = asyncio.Lock() if serial else None
        self.received: list[dict[str, Any]] = []

    async def send(self, payload: dict[str, Any]) -> Outcome:
        self.received.append(payload)
        if self._lock is None:
            await self._clock.sleep(self._service_time(payload))
        else:
            async with self._lock:
                await self._clock.sleep(self._service_time(payload))
        return self._answer(payload)


class ListSink:
    def __init__(self) -> None:
        self.batches: list[MetricsBatch] = []

    async def emit(self, batch: MetricsBatch) -> None:
        self.batches.append(batch)
