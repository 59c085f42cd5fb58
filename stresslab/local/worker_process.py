"""A local worker process: runs its shard's assignments and sends batches down its own pipe."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import orjson
import psutil
import uvloop

from stresslab.generation.plan import ArrivalSchedule, WorkAssignment
from stresslab.generation.worker import ShardWorker
from stresslab.local.garbage import GarbageSweep
from stresslab.measurement.metrics import MetricsBatch, WorkerHealth
from stresslab.ports import RealClock
from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.factory import TargetContext, open_run_target
from stresslab.targets.response import InvalidSamples
from stresslab.targets.secrets import Secrets, environment_resolver

STOP_POLL_S = 0.1
READY = b"ready"
RESUMED = b"resumed:"
REFUSED = b"refused:"  # + the one line: the target refused our credentials; the run must stop
INVALID = b"invalid:"  # + JSON {"count", "samples"}: answers without a decision, masked


class PipeSink:
    """MetricsSink onto this worker's own pipe to the runner, as JSON text.

    One pipe per worker (not a queue shared by all) so that a worker killed halfway through a
    message can only cut its own last batch short; a shared queue's lock could die with it.
    """

    def __init__(self, channel: Connection) -> None:
        self._channel = channel
        self._lock = threading.Lock()  # one message at a time on the pipe, whichever thread

    async def emit(self, batch: MetricsBatch) -> None:
        await self.send(batch.model_dump_json(by_alias=True).encode())

    async def send(self, data: bytes) -> None:
        # off the event loop: a full pipe must not stall the arrivals
        await asyncio.get_running_loop().run_in_executor(None, self._send, data)

    def _send(self, data: bytes) -> None:
        with self._lock:
            self._channel.send_bytes(data)


def retry_worker_id(worker_id: str, attempt: int) -> str:
    return f"{worker_id}-a{attempt}"


def resume_assignments(
    assignments: list[WorkAssignment], first_s: int, attempt: int
) -> list[WorkAssignment]:
    """What a replacement worker runs: the shard's arrivals from first_s on.

    An assignment already under way gets a new worker id, so the replacement's batches (seq
    from 0 again) are never taken for duplicates of the dead worker's.
    """
    resumed = []
    for assignment in assignments:
        if assignment.end_s <= first_s:
            continue
        if assignment.start_s < first_s:
            assignment = assignment.model_copy(update={
                "worker_id": retry_worker_id(assignment.worker_id, attempt), "start_s": first_s,
            })
        resumed.append(assignment)
    return resumed


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
    assignments: list[str], spec_json: str, url: str, channel: Connection, stop: Event,
    start_at: Synchronized[float], attempt: int = 0, owner_urls: tuple[str, ...] = (),
) -> None:
    """Process entry point: report ready, wait for the run's start time, run the assignments.

    owner_urls: the reference service's process URLs, so each card goes to its owner.

    A replacement (attempt > 0) starts at the next whole second of the run, says so
    (`resumed:<second>`) and runs the rest of its shard from there.
    SIGINT is the runner's to handle (it stops workers through `stop`), so it is ignored here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = ScenarioSpec.model_validate_json(spec_json)
    plans = [WorkAssignment.model_validate_json(a) for a in assignments]
    channel.send_bytes(READY)
    # what this process loaded to start is never traversed again by the collector (the
    # runner does the same, local/garbage.py): a full collection then costs the run little
    gc.collect()
    gc.freeze()
    while start_at.value <= 0 and not stop.is_set():
        time.sleep(0.005)
    if attempt:
        first_s = math.floor(time.time() - start_at.value) + 1
        plans = resume_assignments(plans, first_s, attempt)
        channel.send_bytes(RESUMED + str(first_s).encode())
    plans = [a.model_copy(update={"run_started_at": start_at.value}) for a in plans]
    if plans and not stop.is_set():
        uvloop.run(_run(plans, spec, url, channel, stop, owner_urls))
    channel.close()


async def _run(
    assignments: list[WorkAssignment], spec: ScenarioSpec, url: str, channel: Connection,
    stop: Event, owner_urls: tuple[str, ...] = (),
) -> None:
    stopping = asyncio.Event()
    watcher = asyncio.create_task(_watch_stop(stop, stopping))
    sweeper = asyncio.create_task(sweep_garbage(stopping, GarbageSweep()))
    schedule = ArrivalSchedule(spec.profile())
    sink = PipeSink(channel)
    health = ProcessHealth()
    secrets = Secrets(environment_resolver(os.environ))
    invalid = InvalidSamples(mask=secrets.masker.mask)
    told: list[asyncio.Task[None]] = []

    def refused(line: str) -> None:
        stopping.set()  # this worker schedules nothing more; the runner stops the others
        told.append(asyncio.create_task(sink.send(REFUSED + line.encode())))

    context = TargetContext(spec.http, secrets, on_refused=refused, refusal_share=spec.workers)
    try:
        async with open_run_target(spec, url, context, owner_urls) as target:
            for assignment in assignments:
                worker = ShardWorker(
                    assignment, spec, target, sink, RealClock(), health=health, stop=stopping,
                    schedule=schedule, invalid=invalid,
                )
                await worker.run()
                if stopping.is_set():
                    break
    finally:
        for task in (watcher, sweeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*told, return_exceptions=True)
        if invalid.count:
            report = {"count": invalid.count, "samples": invalid.samples}
            await sink.send(INVALID + orjson.dumps(report))


async def sweep_garbage(
    stopping: asyncio.Event, garbage: GarbageSweep,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """The worker's cyclic garbage, swept every few seconds as the runner's is.

    Every HDR histogram is a reference cycle (its encoder holds it), and a worker drops about
    sixteen a second (26-190 KB each): left for Python's rare full collections they piled up
    and fragmented the heap, +9.5% RSS over 25 minutes at 1,000 TPS; swept, flat. What was
    loaded to start is already frozen (before the run's start time, so it costs no sends).
    """
    second = 0
    while not stopping.is_set():
        await sleep(1.0)
        second += 1
        garbage.second_closed(second)


async def _watch_stop(stop: Event, stopping: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL_S)
    stopping.set()
