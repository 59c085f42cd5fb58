"""Run input, its ceilings and the plan the state machine follows (waves, shards, faults)."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stresslab.aws.faults import template_id
from stresslab.generation.plan import Plan, plan_run
from stresslab.measurement.live import describe_run
from stresslab.runs import iso
from stresslab.scenario import resolve
from stresslab.scenario.resolve import AboveCeiling, CeilingWording, Scales, resolve_scenario
from stresslab.scenario.spec import ScenarioError, ScenarioSpec, describe_validation_error
from stresslab.targets.secrets import SecretError, aws_secret_policy

MAX_WAVE_S = 600.0
TARGET_SECRET_PREFIX = "stresslab/targets/"
TPS_PER_WORKER = 500.0

# A run's per-second expectations live in one DynamoDB item (its record, beside the summary
# Evaluate adds to it) and go to every viewer in each snapshot (one WebSocket frame): the
# longest run AWS can hold is where either would overflow its share.
DYNAMODB_ITEM_LIMIT = 400 * 1024
WEBSOCKET_FRAME_LIMIT = 128 * 1024
RUN_RECORD_BUDGET = 300 * 1024  # the rest of the item: summary, status, error
SNAPSHOT_RUN_BUDGET = 64 * 1024  # the rest of the frame: the thinned history and events


class InvalidRun(ValueError):
    """The run cannot start; the message is one line naming the field."""


class RunTarget(BaseModel):
    """Where the load goes: an HTTP(S) endpoint, or a Kinesis stream the platform reads."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    url: str | None = None
    stream: str | None = None
    # The Secrets Manager secret holding the key the target's API requires (x-api-key); only
    # its ARN travels, the load generators read the key (stresslab.aws.target_key).
    api_key_secret: str | None = None

    @property
    def label(self) -> str:
        return self.url or f"kinesis:{self.stream}"


class RunInput(BaseModel):
    """The state machine's input (and the control API's POST /runs body)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scenario: dict[str, Any] | Annotated[str, Field(min_length=1, max_length=64)]
    target_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+", max_length=2048)] | None = None
    target_stream: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")] | None = None
    target_api_key_secret: Annotated[
        str, Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
    ] | None = None
    workers: Annotated[int, Field(ge=1, le=10_000)] | None = None
    time_scale: Annotated[float, Field(gt=0, le=1000)] = 1.0
    load_scale: Annotated[float, Field(gt=0, le=1000)] = 1.0
    max_concurrency: Annotated[int, Field(ge=0, le=10_000)] = 0
    tolerated_failure_pct: Annotated[float, Field(ge=0, le=100)] = 0.0

    @model_validator(mode="after")
    def _one_target(self) -> RunInput:
        if (self.target_url is None) == (self.target_stream is None):
            raise ValueError("target_url, target_stream: give exactly one of them")
        return self

    @model_validator(mode="after")
    def _key_only_for_a_url(self) -> RunInput:
        if self.target_api_key_secret and not self.target_url:
            raise ValueError("target_api_key_secret: only an HTTP target (target_url) takes a key")
        return self

    @property
    def target(self) -> RunTarget:
        return RunTarget(url=self.target_url, stream=self.target_stream,
                         api_key_secret=self.target_api_key_secret)


class Ceilings(resolve.Ceilings):
    """Hard limits from configuration: a run above any of them is refused."""

    max_workers: int = 1000
    # the only secrets a run's target section may name: ${secretsmanager:<prefix>…}
    target_secret_prefix: Annotated[str, Field(min_length=1)] = TARGET_SECRET_PREFIX


def parse_run_input(data: object) -> RunInput:
    if not isinstance(data, dict):
        raise InvalidRun("input: expected a JSON object")
    try:
        return RunInput.model_validate(data)
    except ValidationError as error:
        raise InvalidRun(describe_validation_error(error)) from None


CEILING_WORDING = CeilingWording(
    tps=lambda peak, ceiling: (f"scenario: peak {peak:g} TPS is above the ceiling of "
                               f"{ceiling:g} TPS"),
    duration=lambda seconds, ceiling: (f"scenario: duration {seconds:g}s is above the ceiling "
                                       f"of {ceiling:g}s"),
)


def resolve_spec(run_input: RunInput, ceilings: Ceilings) -> tuple[ScenarioSpec, int]:
    """The scaled scenario and its worker count, within the ceilings."""
    try:
        spec = resolve_scenario(run_input.scenario, None,
                                Scales(time=run_input.time_scale, load=run_input.load_scale),
                                ceilings)
    except AboveCeiling as above:
        raise InvalidRun(above.worded(CEILING_WORDING)) from None
    except ScenarioError as error:
        raise InvalidRun(str(error)) from None
    try:  # before anything is recorded or started: never the generators' own secrets
        aws_secret_policy(ceilings.target_secret_prefix).check(
            [run_input.target_url or "",
             spec.target.model_dump(mode="json") if spec.target else None])
    except SecretError as error:
        raise InvalidRun(str(error)) from None
    peak = spec.profile().peak()
    workers = run_input.workers or max(spec.workers, math.ceil(peak / TPS_PER_WORKER))
    if workers > ceilings.max_workers:
        raise InvalidRun(f"workers: {workers} is above the ceiling of {ceilings.max_workers}")
    if run_input.max_concurrency and run_input.max_concurrency < workers:
        raise InvalidRun(
            f"max_concurrency: {run_input.max_concurrency} is below workers ({workers}); "
            "every shard of a wave must run at once"
        )
    return spec, workers


def longest_run_s(total_bytes: int, series_bytes: int, seconds: int, budget: int) -> int:
    """The longest run whose JSON fits `budget`, from this run's own size per second: the
    per-second series costs its width per second, everything else is taken as fixed."""
    per_second = series_bytes / max(seconds, 1)
    return max(0, math.floor((budget - (total_bytes - series_bytes)) / per_second))


def check_fits_aws(
    spec: ScenarioSpec, plan: Plan, run_id: str, started_at: str, record: dict[str, Any]
) -> None:
    """Refuse, in one line naming the limit, a run too long for its record or its snapshot."""
    series = plan.expected_per_second
    # Serialised as they are sent: the record with json.dumps, the snapshot by pydantic.
    live = describe_run(spec, run_id, started_at, "running", str(record["target"]), series)
    live_series = json.dumps(live.expected_per_second, separators=(",", ":"))
    limits = [
        (longest_run_s(len(json.dumps(record)), len(json.dumps(series)), len(series),
                       RUN_RECORD_BUDGET), "400 KB DynamoDB item"),
        (longest_run_s(len(live.model_dump_json()), len(live_series), len(series),
                       SNAPSHOT_RUN_BUDGET), "128 KB WebSocket frame"),
    ]
    cap, limit = min(limits)
    if spec.duration > cap:
        raise InvalidRun(
            f"scenario: duration {spec.duration:g}s is above the {cap}s a run on AWS can last: "
            f"its per-second series would overflow the {limit}"
        )


class RunRegistry(Protocol):
    def create_run(self, run_id: str, started_at: str, record: dict[str, Any]) -> None: ...


class WaveStep(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    index: int
    start_s: int
    end_s: int
    start_at: float
    launch_at: str = Field(description="ISO time the wave's Lambdas are invoked (before start)")


class FaultStep(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    index: int
    type: str
    key: str
    label: str
    template_id: str
    start_at: str
    end_at: str


class RunPlan(BaseModel):
    """What the Plan function returns to the state machine."""

    model_config = ConfigDict(allow_inf_nan=False)

    valid: bool = True
    run_id: str
    run_started_at: float
    spec: dict[str, Any]
    target: RunTarget
    shards: list[int]
    shard_count: int
    waves: list[WaveStep]
    wave_count: int
    faults: list[FaultStep]
    max_concurrency: int
    tolerated_failure_pct: float


class PlanRefused(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    valid: bool = False
    error: str


def plan_execution(
    run_input: RunInput, run_id: str, execution_arn: str, now: float, ceilings: Ceilings,
    fault_templates: dict[str, str], registry: RunRegistry, start_margin_s: float = 10.0,
    launch_lead_s: float = 30.0,
) -> RunPlan:
    """Validate, plan with the core (waves of at most 10 minutes), record the run, and say
    when each wave's Lambdas launch so consecutive waves overlap instead of leaving gaps."""
    spec, workers = resolve_spec(run_input, ceilings)
    plan: Plan = plan_run(spec, run_id, shards=workers, max_wave_s=MAX_WAVE_S)
    started = now + start_margin_s
    waves = [
        WaveStep(index=w.index, start_s=w.start_s, end_s=w.end_s, start_at=started + w.start_s,
                 launch_at=iso(max(now, started + w.start_s - launch_lead_s)))
        for w in plan.waves
    ]
    faults, notes = [], []
    for index, fault in enumerate(plan.faults):
        template = template_id(fault_templates, fault.type, fault.target)
        if template is None:
            notes.append(f"fault {fault.key} at {fault.at:g}s skipped: no FIS template")
            continue
        faults.append(FaultStep(
            index=index, type=fault.type, key=fault.key, label=fault.label or fault.type,
            template_id=template, start_at=iso(started + fault.at),
            end_at=iso(started + fault.end),
        ))
    spec_json = spec.model_dump(mode="json")
    record = {
        "scenario": spec.name, "spec": spec_json, "plan": plan.model_dump(mode="json"),
        "target": run_input.target.label, "run_started_at": started,
        "execution_arn": execution_arn, "workers": workers,
        "tolerated_failure_pct": run_input.tolerated_failure_pct,
        "faults": [f.model_dump() for f in faults], "notes": notes,
    }
    check_fits_aws(spec, plan, run_id, iso(started), record)
    registry.create_run(run_id, iso(started), record)
    return RunPlan(
        run_id=run_id, run_started_at=started, spec=spec_json, target=run_input.target,
        shards=list(range(workers)), shard_count=workers, waves=waves, wave_count=len(waves),
        faults=faults, max_concurrency=run_input.max_concurrency or workers,
        tolerated_failure_pct=run_input.tolerated_failure_pct,
    )
