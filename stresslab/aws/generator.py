"""One load-generator invocation: the core ShardWorker for one shard of one wave."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from stresslab.aws.kill_switch import StopFlagUnreadable, StopPolling
from stresslab.aws.kinesis import KinesisTarget
from stresslab.aws.planning import RunTarget
from stresslab.aws.target_key import target_headers
from stresslab.generation.plan import ArrivalSchedule, WorkAssignment
from stresslab.generation.worker import ShardWorker
from stresslab.measurement.metrics import WorkerHealth
from stresslab.ports import Clock, MetricsSink, RealClock, Target
from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.aws_secrets import AwsSecretResolver
from stresslab.targets.factory import TargetContext, open_run_target, with_target_url
from stresslab.targets.http import HttpTarget
from stresslab.targets.secrets import Secrets, chain_resolvers

DRAIN_MARGIN_S = 10.0
KILL_SWITCH = "kill switch"
REFUSED = "credentials refused"
UNREADABLE = "stop flags unreadable"
STOP_POLLING = StopPolling()


class RunStopped(RuntimeError):
    """The kill switch names this run: the worker stopped scheduling."""


class MetricsLost(RuntimeError):
    """Some of the worker's batches never reached the metrics stream."""


class TargetRefused(RuntimeError):
    """The target refused our credentials N times running: the run must stop, not hammer it."""


class WaveOverrun(RuntimeError):
    """The wave would outlast the Lambda invocation; the worker stopped early."""


class WorkItem(BaseModel):
    """One Distributed Map item: which shard of which wave, and what to run."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    run_id: Annotated[str, Field(min_length=1, max_length=128)]
    wave: Annotated[int, Field(ge=0)]
    shard: Annotated[int, Field(ge=0)]
    shards: Annotated[int, Field(ge=1)]
    start_s: Annotated[int, Field(ge=0)]
    end_s: Annotated[int, Field(ge=0)]
    run_started_at: float
    spec: dict[str, Any]
    target: RunTarget
    attempt: Annotated[int, Field(ge=0)] = 0

    @property
    def worker_id(self) -> str:
        """Unique per attempt, so a retried shard's batches are not taken for duplicates."""
        base = f"w{self.wave}-s{self.shard}"
        return f"{base}-r{self.attempt}" if self.attempt else base


class LoadEvent(BaseModel):
    """What the Distributed Map's task passes: the item and the state's retry count."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    item: dict[str, Any]
    attempt: Annotated[int, Field(ge=0)] = 0

    def work_item(self) -> WorkItem:
        return WorkItem.model_validate({**self.item, "attempt": self.attempt})


class WorkerResult(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    worker_id: str
    scheduled: int
    sent: int
    dropped: int
    completed: int
    batches: int
    lost_batches: int
    aborted: bool
    peak_cpu_pct: float | None = None
    peak_open_fds: int | None = None


class StopSignal(Protocol):
    def stops(self, run_id: str) -> bool: ...


TargetFactory = Callable[[RunTarget, ScenarioSpec], AbstractAsyncContextManager[Target]]


async def run_work_item(
    item: WorkItem, sink: MetricsSink, open_target: TargetFactory, kill_switch: StopSignal,
    seconds_left: Callable[[], float], health: Callable[[int], WorkerHealth] | None = None,
    clock: Clock | None = None, polling: StopPolling = STOP_POLLING,
    draw: Callable[[], float] = random.random,
) -> WorkerResult:
    """Run the shard; raise RunStopped, StopFlagUnreadable, WaveOverrun or MetricsLost when the
    run must know."""
    clock = clock or RealClock()
    if await _stopped(item.run_id, kill_switch, polling, clock):
        raise RunStopped(f"run {item.run_id} was stopped before {item.worker_id} started")
    spec = ScenarioSpec.model_validate(item.spec)
    assignment = WorkAssignment(
        run_id=item.run_id, worker_id=item.worker_id, wave=item.wave, shard=item.shard,
        shards=item.shards, start_s=item.start_s, end_s=item.end_s,
        run_started_at=item.run_started_at,
    )
    stop = asyncio.Event()
    reason: list[str] = []
    refused: list[str] = []

    def on_refused(line: str) -> None:
        refused.append(line)
        reason.append(REFUSED)
        stop.set()

    # the longest an answer may take: the target section's timeout replaces http.timeout
    longest = (spec.target.timeout if spec.target else None) or spec.http.timeout
    margin = longest + DRAIN_MARGIN_S
    async with open_target(item.target, spec) as target, _watch(
        item.run_id, kill_switch, seconds_left, margin, stop, reason, clock, polling, draw
    ):
        if hasattr(target, "on_refused"):  # a target that counts 401/403 answers in a row
            target.on_refused = on_refused
        worker = ShardWorker(
            assignment, spec, target, sink, clock, health=health, stop=stop,
            schedule=ArrivalSchedule(spec.profile()),
        )
        totals = await worker.run()
    peak_cpu = getattr(health, "peak_cpu", None)
    peak_fds = getattr(health, "peak_fds", None)
    result = WorkerResult(
        worker_id=item.worker_id, scheduled=totals.scheduled, sent=totals.sent,
        dropped=totals.dropped, completed=totals.completed, batches=totals.batches,
        lost_batches=totals.lost_batches, aborted=totals.aborted, peak_cpu_pct=peak_cpu,
        peak_open_fds=peak_fds,
    )
    if totals.lost_batches:
        raise MetricsLost(
            f"{item.worker_id}: {totals.lost_batches} of {totals.batches} batches not delivered"
        )
    if refused:
        raise TargetRefused(f"{refused[0]}; {item.worker_id} stopped after sending "
                            f"{totals.sent} of {totals.scheduled} scheduled")
    if totals.aborted and reason == [UNREADABLE]:
        raise StopFlagUnreadable(
            f"{item.worker_id}: stop flags unreadable {polling.max_failures} reads in a row; "
            f"stopped after sending {totals.sent} of {totals.scheduled} scheduled")
    if totals.aborted and reason == [KILL_SWITCH]:
        raise RunStopped(f"run {item.run_id} stopped by the kill switch; {item.worker_id} "
                         f"sent {totals.sent} of {totals.scheduled} scheduled")
    if totals.aborted:
        raise WaveOverrun(f"{item.worker_id}: stopped with {seconds_left():.0f}s left")
    return result


async def _stopped(
    run_id: str, kill_switch: StopSignal, polling: StopPolling, clock: Clock,
) -> bool:
    """One guarded look at the flags: a failed read is retried, and after max_failures failed
    reads in a row the worker stops (a switch that cannot be read must not be ignored)."""
    for attempt in range(1, polling.max_failures + 1):
        try:
            return await asyncio.to_thread(kill_switch.stops, run_id)
        except Exception as error:  # noqa: BLE001 - any failed read counts, throttle or not
            if attempt == polling.max_failures:
                raise StopFlagUnreadable(
                    f"run {run_id}: stop flags unreadable {attempt} reads in a row: "
                    f"{type(error).__name__}: {error}") from None
            await clock.sleep(polling.retry_s)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def _watch(
    run_id: str, kill_switch: StopSignal, seconds_left: Callable[[], float], margin: float,
    stop: asyncio.Event, reason: list[str], clock: Clock, polling: StopPolling,
    draw: Callable[[], float],
) -> AsyncIterator[None]:
    async def poll() -> None:
        while not stop.is_set():
            if seconds_left() < margin:
                reason.append("deadline")
                stop.set()
                return
            try:
                stopped = await _stopped(run_id, kill_switch, polling, clock)
            except StopFlagUnreadable:
                reason.append(UNREADABLE)
                stop.set()
                return
            if stopped:
                reason.append(KILL_SWITCH)
                stop.set()
                return
            await clock.sleep(polling.next_delay(draw))

    task = asyncio.create_task(poll())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def seconds_left_of(context: Any, fallback_s: float = 900.0) -> Callable[[], float]:
    """Seconds before Lambda's timeout, from the context when there is one."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if callable(getter):
        return lambda: float(getter()) / 1000.0
    deadline = time.monotonic() + fallback_s
    return lambda: deadline - time.monotonic()


def target_opener(
    kinesis_client: Any, secrets_client: Any = None, session: Any = None,
) -> TargetFactory:
    """The scenario's `target:` section built as local workers build it (its secrets from the
    environment, Secrets Manager or SSM); else HttpTarget for a URL (with its API key when the
    run names the key's secret), KinesisTarget for a stream."""
    def open_target(target: RunTarget, spec: ScenarioSpec) -> AbstractAsyncContextManager[Any]:
        if spec.target is not None:
            secrets = Secrets(chain_resolvers(os.environ, AwsSecretResolver(session)))
            context = TargetContext(spec.http, secrets, aws_session=session)
            spec = with_target_url(spec, target.url)
            return open_run_target(spec, target.url or "", context)
        if target.url:
            headers = target_headers(secrets_client, target.api_key_secret)
            return HttpTarget(target.url, spec.http, headers)
        assert target.stream is not None
        return KinesisTarget(kinesis_client, target.stream)

    return open_target
