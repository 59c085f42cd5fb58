"""The dashboard message (stresslab.live/v1): snapshot, one tick a second, and events."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, ValidationError, with_config
from typing_extensions import TypedDict

from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.identity import TargetIdentity, identify_target

LIVE_SCHEMA: Literal["stresslab.live/v1"] = "stresslab.live/v1"

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
    system: NotRequired[str | None]  # the system under test's label, once it has a summary


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
    window_end_epoch: float | None = Field(
        default=None, description="wall clock (epoch s) at which the window closed")
    published_epoch: float | None = Field(
        default=None, description="wall clock (epoch s) at which the runtime sent the tick")


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
