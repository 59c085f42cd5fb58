"""The dashboard message (stresslab.live/v1): snapshot, one tick a second, and events."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, ValidationError, with_config
from typing_extensions import TypedDict

from stresslab.judgement.business import PriceTable, estimate_cost
from stresslab.judgement.criteria import judge
from stresslab.judgement.summary import (
    agent_calls_per_transaction,
    agent_compute_ms,
    criterion_window,
    reported_tokens,
)
from stresslab.measurement.aggregate import (
    RunAggregator,
    accuracy_of,
    agents_of,
    latency_ms,
    window_metrics,
)
from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.identity import TargetIdentity, identify_target

LIVE_SCHEMA: Literal["stresslab.live/v1"] = "stresslab.live/v1"
HISTORY_LIMIT = 7200
# A snapshot is sent to every viewer that joins or resyncs: bounded whatever the run's length.
SNAPSHOT_RECENT_S = 300  # the last five minutes, every second
SNAPSHOT_OLDER_TICKS = 300  # the seconds before them, thinned evenly to at most this many
UPTIME_ERROR_RATE = 0.01  # a second counts as "up" below the design brief's critical alert level
END_OF_RUN_METRICS = frozenset({"lost", "latency_drift_pct", "memory_growth_pct"})

EventName = Literal[
    "run_started", "run_stopped", "fault_injected", "fault_cleared", "criterion_breached",
    "criterion_recovered", "degradation_changed", "run_note",
]


AgentHealth = Literal["healthy", "degraded", "down", "unknown"]
BudgetStatus = Literal["on track", "over budget"]


# The dict-shaped parts of the messages: TypedDicts, so the runtimes keep building plain dicts
# and the pages' types are generated from the same definitions.
class AgentWindow(TypedDict):
    """One agent's calls inside a window (aggregate.agents_of)."""

    calls: int
    errors: int
    avg_ms: float | None
    p95_ms: float | None


class _Counts(TypedDict):
    """What was asked for and what came of it, in a second or in the run so far."""

    scheduled: int
    sent: int
    ok: int
    errors: int
    timeouts: int
    dropped: int
    errors_by_class: dict[str, int]


class WindowRow(_Counts):
    """One second of the run (aggregate.RunAggregator.second_row)."""

    second: int
    target_tps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lag_p99_ms: float | None
    labelled: int
    accuracy: float | None
    tp: int
    fp: int
    tn: int
    fn: int
    patterns: Annotated[dict[str, Annotated[list[int], Field(min_length=2, max_length=2)]],
                        Field(description="pattern -> [seen, flagged]")]
    decisions: dict[str, int]
    fraud_prevented_usd: float
    agents: dict[str, AgentWindow]
    active_workers: int
    faults: list[str]
    # The AWS runtime's: whether every worker expected had reported the second when it closed
    partial: NotRequired[bool]
    workers_expected: NotRequired[int]
    workers_closed: NotRequired[int]


class PatternDetection(TypedDict):
    seen: int
    flagged: int
    detection_rate: float | None


@with_config(ConfigDict(extra="allow"))
class Totals(_Counts):
    """The run so far, in a tick."""

    peak_tps: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    accuracy: float | None
    precision: float | None
    recall: float | None
    false_positive_rate: float | None
    by_pattern: dict[str, PatternDetection]
    fraud_missed: float
    false_positive_amount: float


class PlannedFault(TypedDict):
    """A fault on the scenario's timeline, as LiveRun lists it."""

    type: str
    label: str
    target: str | None
    start_s: float
    end_s: float
    key: str


@with_config(ConfigDict(extra="allow"))
class RunRecord(TypedDict):
    """A past or current run as the control API and the snapshot list them."""

    run_id: str
    scenario: NotRequired[str]
    status: NotRequired[str]
    started_at: NotRequired[str]
    ended_at: NotRequired[str | None]
    passed: NotRequired[bool | None]


class _Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True, allow_inf_nan=False)

    schema_: Literal["stresslab.live/v1"] = Field(default=LIVE_SCHEMA, alias="schema")

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class PhaseInfo(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    name: str
    shape: str
    start_s: float
    end_s: float


class LiveRun(BaseModel):
    """What a dashboard needs to know about the run before any tick."""

    model_config = ConfigDict(allow_inf_nan=False)

    run_id: str
    scenario: str
    description: str
    status: str
    started_at: str
    duration_s: float
    time_scale: float
    load_scale: float
    peak_tps: float
    target: str
    system_under_test: TargetIdentity | None = Field(
        default=None, description="the target as every page names it (never a secret)")
    currency: str
    phases: list[PhaseInfo]
    faults: list[PlannedFault]
    criteria: list[str]
    expected_per_second: list[float]


class Hero(BaseModel):
    """The presentation's big numbers, all from the run so far."""

    model_config = ConfigDict(allow_inf_nan=False)

    transactions_processed: int
    fraud_blocked: int
    money_saved: float
    currency: str
    uptime_pct: float | None
    current_tps: float
    ai_accuracy: float | None


class AgentLive(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    name: str
    calls: int
    errors: int
    avg_ms: float | None
    p95_ms: float | None
    share_pct: float | None = Field(description="share of all agent time spent in this agent")
    load_pct: float | None = None
    health: AgentHealth = "unknown"


class Cost(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    cost_per_transaction: float
    usd_per_hour: float
    projected_usd_per_day: float
    budget_usd_per_day: float
    budget_status: BudgetStatus
    pricing_source: str
    basis: Literal["modelled", "reported"] = Field(
        default="modelled", description="modelled: tokens from a declared usage per agent call")
    model: str = Field(default="", description="how the cost was estimated, one line")


class Tick(_Message):
    type: Literal["tick"] = "tick"
    run_id: str
    second: int
    elapsed_s: float
    window: WindowRow
    hero: Hero
    totals: Totals
    agents: list[AgentLive]
    cost: Cost
    infra: dict[str, Any] | None = Field(
        default=None, description="process resource figures; the runtime decides which keys")
    degradation: str = "NONE"
    faults_active: list[str] = Field(default_factory=list)


class LiveEvent(_Message):
    type: Literal["event"] = "event"
    run_id: str
    event: EventName
    at_s: float
    detail: dict[str, Any] = Field(default_factory=dict)


class Snapshot(_Message):
    type: Literal["snapshot"] = "snapshot"
    run: LiveRun | None
    history: list[Tick] = Field(default_factory=list)
    events: list[LiveEvent] = Field(default_factory=list)
    runs: list[RunRecord] = Field(default_factory=list)


class Pong(_Message):
    """The answer to a ping."""

    type: Literal["pong"] = "pong"


class ServerError(_Message):
    """A browser message the server refused, in one line."""

    type: Literal["error"] = "error"
    message: str


class ClientMessage(BaseModel):
    """What a browser may send: a ping, or a request for the full state again."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: Literal["ping", "resync"]


def parse_client_message(text: str | bytes, limit: int = 4096) -> ClientMessage:
    """ValueError with one line for anything but a small known message."""
    if len(text) > limit:
        raise ValueError(f"message too large ({len(text)} bytes, at most {limit})")
    try:
        return ClientMessage.model_validate(json.loads(text))
    except json.JSONDecodeError:
        raise ValueError("message is not JSON") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise ValueError(f"{where}: {first['msg']}") from None


def describe_run(
    spec: ScenarioSpec, run_id: str, started_at: str, status: str, target: str,
    expected_per_second: list[float], identity: TargetIdentity | None = None,
) -> LiveRun:
    phases, start = [], 0.0
    for index, phase in enumerate(spec.phases):
        phases.append(PhaseInfo(name=phase.name or f"phase {index + 1}", shape=phase.shape,
                                start_s=start, end_s=start + phase.duration))
        start += phase.duration
    return LiveRun(
        run_id=run_id, scenario=spec.name, description=spec.description, status=status,
        started_at=started_at, duration_s=spec.duration, time_scale=spec.time_scale,
        load_scale=spec.load_scale, peak_tps=spec.profile().peak(), target=target,
        system_under_test=identity or identify_target(target),
        currency=spec.reporting_currency,
        phases=phases,
        faults=[{"type": f.type, "label": f.label or f.type.replace("_", " "),
                 "target": f.target, "start_s": f.at, "end_s": f.end, "key": f.key}
                for f in spec.faults],
        criteria=[c.expr if c.window_label == "run" else f"{c.expr} [{c.window_label}]"
                  for c in spec.criteria],
        expected_per_second=[round(x, 3) for x in expected_per_second],
    )


class LiveFeed:
    """Turns a run's aggregator into ticks and events; the same for every runtime."""

    def __init__(
        self, spec: ScenarioSpec, run: LiveRun, prices: PriceTable, usd_to_currency: float
    ) -> None:
        self.spec = spec
        self.run = run
        self._prices = prices
        self._usd_to = usd_to_currency
        self._history: list[Tick] = []
        self._events: list[LiveEvent] = []
        self._up_seconds = 0
        self._counted_seconds = 0
        self._breached: set[str] = set()
        self._judged: set[str] = set()
        self._degradation = "NONE"

    @property
    def history(self) -> list[Tick]:
        return list(self._history)

    @property
    def events(self) -> list[LiveEvent]:
        return list(self._events)

    def event(self, name: EventName, at_s: float, **detail: Any) -> LiveEvent:
        event = LiveEvent(run_id=self.run.run_id, event=name, at_s=round(at_s, 3), detail=detail)
        self._events.append(event)
        if name in ("run_started", "run_stopped"):
            self.run = self.run.model_copy(update={"status": detail.get("status", self.run.status)})
        return event

    def set_degradation(self, level: str, at_s: float, **detail: Any) -> LiveEvent | None:
        """The level the next ticks carry; an event when it changes (detail: why, applied)."""
        if level == self._degradation:
            return None
        previous, self._degradation = self._degradation, level
        return self.event("degradation_changed", at_s, level=level, previous=previous, **detail)

    def tick(
        self,
        aggregator: RunAggregator,
        second: int,
        faults_active: list[str] | None = None,
        infra: dict[str, Any] | None = None,
        agent_load: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[Tick, list[LiveEvent]]:
        """The tick for a closed second, and the criterion events it caused."""
        row = aggregator.second_row(second, faults_active or [])
        self._count_uptime(row)
        totals = aggregator.totals
        accuracy = accuracy_of(totals)
        latency = latency_ms(totals)
        agents = agents_of(totals)
        system = self.run.system_under_test
        cost = estimate_cost(self._prices, agent_compute_ms(agents) or 0.0,
                             agent_calls_per_transaction(agents, totals.ok),
                             reported_tokens(totals), system is not None and system.reference)
        per_txn = cost.usd
        usd_per_hour = per_txn * row["ok"] * 3600
        budget = self._prices.budget.usd_per_day
        tick = Tick(
            run_id=self.run.run_id,
            second=second,
            elapsed_s=float(second + 1),
            window=row,
            hero=Hero(
                transactions_processed=totals.ok,
                fraud_blocked=totals.tp,
                money_saved=round(totals.fraud_prevented * self._usd_to, 2),
                currency=self.run.currency,
                uptime_pct=round(100 * self._up_seconds / self._counted_seconds, 3)
                if self._counted_seconds else None,
                current_tps=float(row["ok"]),
                ai_accuracy=None if accuracy["accuracy"] is None
                else round(accuracy["accuracy"] * 100, 2),
            ),
            totals={
                "scheduled": totals.scheduled, "sent": totals.sent, "ok": totals.ok,
                "errors": totals.error_total, "timeouts": totals.timeouts,
                "dropped": totals.dropped,
                "errors_by_class": dict(totals.errors),
                "peak_tps": max((s.sent for s in aggregator.seconds.values()), default=0),
                "p50_ms": latency["p50"], "p95_ms": latency["p95"], "p99_ms": latency["p99"],
                "accuracy": accuracy["accuracy"], "precision": accuracy["precision"],
                "recall": accuracy["recall"],
                "false_positive_rate": accuracy["false_positive_rate"],
                "by_pattern": accuracy["by_pattern"],
                "fraud_missed": round(totals.fraud_missed * self._usd_to, 2),
                "false_positive_amount": round(totals.false_positive * self._usd_to, 2),
            },
            agents=_agents_live(agents, row["agents"], agent_load or {}),
            cost=Cost(
                cost_per_transaction=per_txn * self._usd_to,
                usd_per_hour=usd_per_hour,
                projected_usd_per_day=usd_per_hour * 24,
                budget_usd_per_day=budget,
                budget_status="on track" if usd_per_hour * 24 <= budget else "over budget",
                pricing_source=self._prices.source,
                basis=cost.basis,
                model=cost.model,
            ),
            infra=infra,
            degradation=self._degradation,
            faults_active=faults_active or [],
        )
        self._history.append(tick)
        del self._history[:-HISTORY_LIMIT]
        return tick, self._judge_running(aggregator, second)

    def snapshot(self, runs: list[dict[str, Any]] | None = None) -> Snapshot:
        return Snapshot(run=self.run, history=thin_history(self._history), events=self.events,
                        runs=runs or [])

    def _count_uptime(self, row: dict[str, Any]) -> None:
        if row["sent"] == 0:
            return
        self._counted_seconds += 1
        if (row["errors"] + row["timeouts"]) / row["sent"] < UPTIME_ERROR_RATE:
            self._up_seconds += 1

    def _judge_running(self, aggregator: RunAggregator, second: int) -> list[LiveEvent]:
        """Criteria on the run so far, and each phase's once it is over: events on each change.

        Metrics that only mean something once every answer is in (lost, drift, memory growth)
        are left to the summary: mid-run, requests in flight would look lost.
        """
        events = []
        for criterion in self.spec.criteria:
            key = f"{criterion.expr} [{criterion.window_label}]"
            if (criterion.threshold.metric in END_OF_RUN_METRICS or key in self._judged
                    or criterion.fault is not None):  # per fault, judged by the summary
                continue
            window = criterion_window(criterion, self.spec)
            if window is None:
                stats, (start, end) = aggregator.totals, (0, second + 1)
            elif second >= window[1]:  # one second of grace for the phase's last answers
                (start, end), stats = window, aggregator.window(*window)
                self._judged.add(key)
            else:
                continue
            metrics = window_metrics(stats, end - start, aggregator.expected_between(start, end))
            result = judge(criterion, metrics)
            if result.observed is None:
                continue
            if not result.passed and key not in self._breached:
                self._breached.add(key)
                events.append(self.event("criterion_breached", second + 1, criterion=key,
                                         observed=result.observed))
            elif result.passed and key in self._breached:
                self._breached.discard(key)
                events.append(self.event("criterion_recovered", second + 1, criterion=key,
                                         observed=result.observed))
        return events


def thin_history(
    history: list[Tick], recent: int = SNAPSHOT_RECENT_S, older: int = SNAPSHOT_OLDER_TICKS,
) -> list[Tick]:
    """The recent ticks whole, the ones before them evenly thinned (the first one kept)."""
    if len(history) <= recent + older:
        return list(history)
    before, latest = history[:-recent], history[-recent:]
    return before[::math.ceil(len(before) / older)] + latest


def _agents_live(
    totals: dict[str, dict[str, Any]], window: dict[str, dict[str, Any]],
    load: dict[str, dict[str, Any]],
) -> list[AgentLive]:
    time_spent = {
        name: (a["avg_ms"] or 0.0) * a["calls"] for name, a in totals.items()
    }
    all_time = sum(time_spent.values())
    agents = []
    for name, agent in totals.items():
        recent = window.get(name, {})
        recent_calls, recent_errors = recent.get("calls", 0), recent.get("errors", 0)
        health: Literal["healthy", "degraded", "down", "unknown"] = "unknown"
        if recent_calls:
            error_share = recent_errors / recent_calls
            health = "down" if error_share >= 0.5 else "degraded" if error_share > 0.01 \
                else "healthy"
        reported = load.get(name, {})
        if reported.get("healthy") is False:
            health = "down"
        agents.append(AgentLive(
            name=name, calls=agent["calls"], errors=agent["errors"], avg_ms=agent["avg_ms"],
            p95_ms=agent["p95_ms"],
            share_pct=round(100 * time_spent[name] / all_time, 2) if all_time else None,
            load_pct=reported.get("load_pct"), health=health,
        ))
    return agents
