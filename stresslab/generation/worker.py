"""The load worker: sends one shard's arrivals on schedule (open model) and reports every second."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from stresslab.generation.plan import ArrivalSchedule, WorkAssignment
from stresslab.generation.transactions import GeneratedTransaction, TransactionFactory
from stresslab.measurement.metrics import (
    MetricsBatch,
    NameBook,
    WindowStats,
    WorkerHealth,
)
from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Clock, MetricsSink, Outcome, Target
from stresslab.scenario.spec import ResponseMapping, ScenarioSpec
from stresslab.targets.response import InvalidSamples, ResponseReader, read_usage

Submit = Callable[[Mapping[str, Any], Callable[[Outcome], None]], None]

EARLY_WAKE_S = 0.0005
YIELD_EVERY = 64
MAX_AGENT_MS = 3_600_000


@dataclass
class WorkerTotals:
    """What one assignment did, for the worker's own log and the tests."""

    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    completed: int = 0
    batches: int = 0
    aborted: bool = False
    lost_batches: int = 0
    windows: list[int] = field(default_factory=list)


def read_field(body: Any, dotted: str) -> Any:
    """body['a']['b'] for 'a.b'; None when any step is missing."""
    return field_reader(dotted)(body)


def field_reader(dotted: str) -> Callable[[Any], Any]:
    """read_field for one path, split once rather than on every answer."""
    parts = tuple(dotted.split("."))
    if len(parts) == 1:
        key = parts[0]
        return lambda body: body.get(key) if isinstance(body, dict) else None

    def read(body: Any) -> Any:
        value = body
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return read


def _agent_seconds(ms: Any) -> float | None:
    """An agent's reported time, if it is a plausible number of milliseconds (below an hour)."""
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms < MAX_AGENT_MS:
        return None
    return ms / 1000


class ShardWorker:
    """Runs one WorkAssignment: schedule → send → score → one MetricsBatch per second."""

    def __init__(
        self,
        assignment: WorkAssignment,
        spec: ScenarioSpec,
        target: Target,
        sink: MetricsSink,
        clock: Clock,
        health: Callable[[int], WorkerHealth] | None = None,
        stop: asyncio.Event | None = None,
        schedule: ArrivalSchedule | None = None,
        invalid: InvalidSamples | None = None,
    ) -> None:
        self._assignment = assignment
        self._spec = spec
        self._target = target
        # a target that can send without a task per request (the plain HTTP POST) says so
        self._submit: Submit | None = getattr(target, "submitter", None)
        self._sink = sink
        self._clock = clock
        self._health = health
        self._stop = stop or asyncio.Event()
        self._schedule = schedule or ArrivalSchedule(spec.profile())
        self._mapping: ResponseMapping = spec.response
        self._flagged = frozenset(spec.response.flagged_values)
        self._read_decision = field_reader(spec.response.decision_field)
        agents_field, usage_field = spec.response.agents_field, spec.response.usage_field
        self._read_agents = field_reader(agents_field) if agents_field else None
        self._read_usage = field_reader(usage_field) if usage_field else None
        # a `target:` section's response mapping replaces the top-level decision_field/agents_field
        self._reader = ResponseReader(spec.target.response) if spec.target is not None else None
        self.invalid = invalid if invalid is not None else InvalidSamples()
        mapping = spec.response
        self._decision_names = NameBook(mapping.max_decisions, mapping.max_name_length)
        self._agent_names = NameBook(mapping.max_agents, mapping.max_name_length)
        self._factory = TransactionFactory(
            assignment.run_id, spec.seed, assignment.shard, spec.mix
        )
        self._stats = WindowStats()
        self._window = assignment.start_s
        self._seq = 0
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._outbox: asyncio.Queue[MetricsBatch] = asyncio.Queue()
        self.totals = WorkerTotals()

    @property
    def seq(self) -> int:
        return self._seq

    def continue_seq(self, seq: int) -> None:
        """Keep seq increasing across the waves one process runs for the same worker id."""
        self._seq = seq

    async def run(self) -> WorkerTotals:
        assignment = self._assignment
        origin = self._clock.now() + (assignment.run_started_at - self._clock.wall())
        self._window = max(assignment.start_s, int(self._clock.now() - origin))
        ticker = asyncio.create_task(self._tick_windows(origin))
        courier = asyncio.create_task(self._deliver())
        try:
            await self._send_arrivals(origin)
            await self._drain()
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            # The last planned second stays open until every answer is in, so the drain is
            # reported in the plan (where the live views look) and each second gets one batch,
            # also the seconds a late ticker did not close.
            last = max(self._window, min(int(self._clock.now() - origin), assignment.end_s - 1))
            while self._window < last:
                self._close_window(final=False, window=self._window)
                self._window += 1
            self._close_window(final=True, window=last)
            await self._outbox.join()
            courier.cancel()
            await asyncio.gather(courier, return_exceptions=True)
        return self.totals

    async def _send_arrivals(self, origin: float) -> None:
        assignment = self._assignment
        settings = self._spec.http
        max_lag, max_in_flight = settings.max_lag, settings.max_in_flight
        clock, totals, factory = self._clock, self.totals, self._factory
        submit = self._submit
        since_yield = 0
        for _, t in self._schedule.arrivals(
            assignment.start_s, assignment.end_s, assignment.shard, assignment.shards
        ):
            if self._stop.is_set():
                self.totals.aborted = True
                return
            due = origin + t
            now = clock.now()
            if due - now > EARLY_WAKE_S:
                await clock.sleep(due - now)
                now = clock.now()
                since_yield = 0
            elif since_yield >= YIELD_EVERY:
                await asyncio.sleep(0)
                now = clock.now()
                since_yield = 0
            since_yield += 1
            stats = self._stats
            stats.scheduled += 1
            totals.scheduled += 1
            lag = now - due
            in_flight = self._in_flight
            if lag > max_lag or in_flight >= max_in_flight:
                stats.dropped += 1
                totals.dropped += 1
                continue
            stats.sent += 1
            totals.sent += 1
            stats.record_lag(lag)
            transaction = factory.next(assignment.run_started_at + t)
            if not in_flight:  # set again when the last answer is in
                self._drained.clear()
            self._in_flight = in_flight + 1
            if submit is not None:
                answered = self._answered_by(transaction, due)
                try:
                    submit(transaction.payload, answered)
                except Exception:  # noqa: BLE001 - a target adapter bug must not lose the count
                    answered(Outcome("other"))
                continue
            task = asyncio.create_task(self._exchange(transaction, due))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _exchange(self, transaction: GeneratedTransaction, due: float) -> None:
        try:
            outcome = await self._target.send(transaction.payload)
        except Exception:  # noqa: BLE001 - a target adapter bug must not lose the count
            outcome = Outcome("other")
        self._answered_by(transaction, due)(outcome)

    def _answered_by(
        self, transaction: GeneratedTransaction, due: float
    ) -> Callable[[Outcome], None]:
        """What records the outcome of `transaction`, sent for `due`, when it comes."""

        def answered(outcome: Outcome) -> None:
            try:
                self._record(transaction, outcome, self._clock.now() - due)
            finally:  # whatever an answer holds, the worker must not wait for it forever
                self._in_flight -= 1
                self.totals.completed += 1
                if self._in_flight == 0:
                    self._drained.set()

        return answered

    def _record(self, transaction: GeneratedTransaction, outcome: Outcome, latency: float) -> None:
        stats = self._stats
        if not outcome.delivered:
            stats.undelivered += 1
        kind = outcome.kind
        if kind != OUTCOME_OK:
            if kind == OUTCOME_TIMEOUT:
                stats.timeouts += 1
            else:
                stats.errors[kind if kind in stats.errors else "other"] += 1
            return
        if self._reader is not None:
            self._record_mapped(stats, transaction, outcome.body, latency)
            return
        body = outcome.body
        decision = self._read_decision(body)
        if decision is None:
            stats.errors["invalid_response"] += 1
            return
        self._record_decision(stats, transaction, str(decision), latency)
        if self._read_agents is not None:
            agents = self._read_agents(body)
            if isinstance(agents, dict):
                self._record_agents(stats, agents)
        if self._read_usage is not None:
            usage = read_usage(self._read_usage(body), self._mapping.max_agents)
            if usage is not None:
                stats.record_usage(*usage)

    def _record_mapped(
        self, stats: WindowStats, transaction: GeneratedTransaction, body: Any, latency: float
    ) -> None:
        """The decision read through the target's response mapping."""
        assert self._reader is not None
        read = self._reader.read(body)
        if not read.valid:
            stats.errors["invalid_response"] += 1
            self.invalid.offer(orjson.dumps(body, default=str), read.problem)
            return
        self._record_decision(stats, transaction, read.decision, latency)
        if isinstance(read.agents, dict):
            self._record_agents(stats, read.agents)
        if read.usage is not None:
            stats.record_usage(*read.usage)

    def _record_decision(
        self, stats: WindowStats, transaction: GeneratedTransaction, raw: str, latency: float
    ) -> None:
        stats.ok += 1
        stats.record_latency(latency)
        label = transaction.label
        name, folded, cleaned = self._decision_names.admit(raw)
        if folded or cleaned:  # rare: a name past the limit, or one with markup
            stats.decisions_folded += folded
            stats.names_cleaned += cleaned
        stats.record_decision(
            name, raw in self._flagged, label.is_fraud, label.pattern, transaction.amount_usd,
        )

    def _record_agents(self, stats: WindowStats, agents: dict[Any, Any]) -> None:
        for raw, report in agents.items():
            if not isinstance(report, dict):
                continue
            name, folded, cleaned = self._agent_names.admit(str(raw))
            stats.agents_folded += folded
            stats.names_cleaned += cleaned
            stats.record_agent(name, _agent_seconds(report.get("ms")), bool(report.get("error")))

    async def _drain(self) -> None:
        if self._in_flight:
            await self._drained.wait()

    async def _tick_windows(self, origin: float) -> None:
        while self._window < self._assignment.end_s - 1:  # run() closes the last one
            boundary = origin + self._window + 1
            await self._clock.sleep(boundary - self._clock.now())
            self._close_window(final=False, window=self._window)
            self._window += 1

    async def _deliver(self) -> None:
        while True:
            batch = await self._outbox.get()
            try:
                await self._sink.emit(batch)
            except Exception:  # noqa: BLE001 - counted, and the run's summary shows the gap
                self.totals.lost_batches += 1
            finally:
                self._outbox.task_done()

    def _close_window(self, final: bool, window: int) -> None:
        """Swap in a fresh window and queue the closed one; no await, so never half done."""
        stats, self._stats = self._stats, WindowStats()
        assignment = self._assignment
        health = self._health(self._in_flight) if self._health else WorkerHealth(
            in_flight=self._in_flight
        )
        batch: MetricsBatch = stats.to_batch(
            assignment.run_id, assignment.worker_id, assignment.wave, assignment.shard,
            self._seq, window, final=final, health=health,
        )
        self._seq += 1
        self.totals.batches += 1
        self.totals.windows.append(window)
        self._outbox.put_nowait(batch)
