"""A local worker process: runs its shard's assignments and puts batches on a queue."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import psutil
import uvloop

from stresslab.metrics import MetricsBatch, WorkerHealth
from stresslab.plan import ArrivalSchedule, WorkAssignment
from stresslab.ports import RealClock
from stresslab.spec import ScenarioSpec
from stresslab.targets.http import HttpTarget
from stresslab.worker import ShardWorker

STOP_POLL_S = 0.1


class QueueSink:
    """MetricsSink onto a multiprocessing queue (JSON text, so nothing is pickled twice)."""

    def __init__(self, queue: Queue[Any]) -> None:
        self._queue = queue

    async def emit(self, batch: MetricsBatch) -> None:
        self._queue.put(batch.model_dump_json(by_alias=True))


class ProcessHealth:
    """This process's CPU, memory and descriptors, sampled once per window."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)

    def __call__(self, in_flight: int) -> WorkerHealth:
        with self._process.oneshot():
            return WorkerHealth(
                cpu_pct=self._process.cpu_percent(None),
                rss_mb=round(self._process.memory_info().rss / 2**20, 1),
                open_fds=self._process.num_fds(),
                in_flight=in_flight,
            )


def worker_main(
    assignments: list[str], spec_json: str, url: str, queue: Queue[Any], stop: Event,
    start_at: Synchronized[float],
) -> None:
    """Process entry point: report ready, wait for the run's start time, run the assignments.

    SIGINT is the runner's to handle (it stops workers through `stop`), so it is ignored here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = ScenarioSpec.model_validate_json(spec_json)
    plans = [WorkAssignment.model_validate_json(a) for a in assignments]
    queue.put("ready")
    while start_at.value <= 0 and not stop.is_set():
        time.sleep(0.005)
    plans = [a.model_copy(update={"run_started_at": start_at.value}) for a in plans]
    if not stop.is_set():
        uvloop.run(_run(plans, spec, url, queue, stop))
    queue.close()
    queue.join_thread()


async def _run(
    assignments: list[WorkAssignment], spec: ScenarioSpec, url: str, queue: Queue[Any],
    stop: Event,
) -> None:
    stopping = asyncio.Event()
    watcher = asyncio.create_task(_watch_stop(stop, stopping))
    schedule = ArrivalSchedule(spec.profile())
    sink = QueueSink(queue)
    health = ProcessHealth()
    try:
        async with HttpTarget(url, spec.http) as target:
            for assignment in assignments:
                worker = ShardWorker(
                    assignment, spec, target, sink, RealClock(), health=health, stop=stopping,
                    schedule=schedule,
                )
                await worker.run()
                if stopping.is_set():
                    break
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _watch_stop(stop: Event, stopping: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL_S)
    stopping.set()
