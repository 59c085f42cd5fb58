"""The control API contract (browser -> either runtime): request and answer models, the lists
both runtimes serve, and the JSON Schema the pages' TypeScript types are generated from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from reference_service.config import AGENT_NAMES, AgentName
from reference_service.faults import DELAY_FAULTS, MAX_ADDED_MS, SERVICE_WIDE_FAULTS
from reference_service.faults import FaultSpec as TargetFaultSpec
from stresslab.scenario.durations import parse_duration
from stresslab.scenario.presentation import (
    PLACEHOLDERS,
    Benchmark,
    list_profiles,
    load_benchmarks,
)
from stresslab.scenario.resolve import Overrides, resolve_scenario, scenario_error_line
from stresslab.scenario.spec import (
    FaultType,
    ScenarioError,
    ScenarioSpec,
    describe_validation_error,
    list_scenarios,
    load_scenario,
)

CONTROL_SCHEMA = "stresslab.control/v1"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "dashboard_site" / "src" / "generated" \
    / "control.schema.json"
SCENARIO_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_FAULT_S = 3600.0
DEFAULT_FAULT_S = 30.0
MIN_VIEWER_LINK_S = 60
DEFAULT_VIEWER_LINK_S = 4 * 3600
MAX_VIEWER_LINK_S = 24 * 3600
EXPORT_FILES = ("summary.json", "timeseries.csv", "report.html", "junit.xml")
ExportFile = Literal["summary.json", "timeseries.csv", "report.html", "junit.xml"]

FAULT_TYPES: dict[str, tuple[str, float]] = {
    "agent_errors": ("An AI agent answers with errors for a share of its calls", 0.3),
    "latency": ("Calls to an agent (or to every agent) take longer", 300.0),
    "throttle": ("The service refuses a share of requests as overloaded (429)", 0.2),
    "agent_down": ("An agent (or every agent) is unavailable for a share of calls", 1.0),
    "slow_store": ("The card-history store answers slowly", 200.0),
    "drop_connections": ("Connections are dropped without an answer", 0.05),
}


M = TypeVar("M", bound=BaseModel)


class ContractError(ValueError):
    """A request that breaks the contract; the message is one line naming the field."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Scale = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


# ------------------------------------------------------------------------------ requests


class StartRun(_Request):
    """POST /runs: a bundled scenario by name, or a whole scenario inline; scaled, optionally
    replaced by a constant rate for a time, optionally against a given target."""

    scenario: Annotated[str, Field(pattern=SCENARIO_NAME)] | dict[str, Any]
    time_scale: Scale = 1.0
    load_scale: Scale = 1.0
    tps: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    duration: Annotated[float, Field(gt=0, allow_inf_nan=False,
                                      description="seconds, or a duration such as '90s'")] \
        | str | None = None
    target_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+", max_length=2048)] | None = None
    target_stream: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")] | None = None
    baseline: Annotated[str, Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,127}$",
        description="a stored run id, or last-pass: the last passing run of this scenario and "
                    "target; the scenario's regressions: rules are judged against it",
    )] | None = None

    @field_validator("scenario", mode="before")
    @classmethod
    def _name_or_spec(cls, value: object) -> object:
        # One message for the one mistake, rather than one per member of the union.
        if isinstance(value, str) and not re.fullmatch(SCENARIO_NAME, value):
            raise ValueError(f"String should match pattern '{SCENARIO_NAME}' (a bundled "
                             "scenario's name), or give the scenario itself as an object")
        if not isinstance(value, str | dict):
            raise ValueError("give a bundled scenario's name or the scenario as an object")
        return value

    @field_validator("duration", mode="after")
    @classmethod
    def _seconds(cls, value: float | str | None) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _tps_with_duration(self) -> StartRun:
        if (self.tps is None) != (self.duration is None):
            raise ValueError("tps, duration: give both (a constant rate for a time) or neither")
        if self.target_url is not None and self.target_stream is not None:
            raise ValueError("target_url, target_stream: give at most one of them")
        return self

    def spec(self, scenarios_dir: Path) -> ScenarioSpec:
        """The scenario asked for, at the constant rate if one is given, not yet scaled."""
        duration = None if self.duration is None else float(self.duration)
        try:
            return resolve_scenario(self.scenario, Overrides(tps=self.tps, duration=duration),
                                    scenarios_dir=scenarios_dir, bundled_only=True)
        except ScenarioError as error:
            raise ContractError(scenario_error_line(error)) from None


class InjectFault(_Request):
    """POST /faults: a fault on the running run, now."""

    type: FaultType
    target: AgentName | None = None
    intensity: Annotated[float, Field(allow_inf_nan=False,
                                      description="default: the type's (see /fault-types)")] \
        | None = None
    duration_s: Annotated[float, Field(gt=0, le=MAX_FAULT_S, allow_inf_nan=False)] = \
        DEFAULT_FAULT_S
    label: Annotated[str, Field(max_length=80)] = ""
    run_id: Annotated[str, Field(min_length=1, max_length=80)] | None = None

    @model_validator(mode="after")
    def _the_target_accepts_it(self) -> InjectFault:
        if self.intensity is None:
            self.intensity = FAULT_TYPES[self.type][1]
        try:
            TargetFaultSpec(type=self.type, agent=self.target, intensity=self.intensity,
                            duration_s=self.duration_s)
        except ValidationError as error:
            raise ValueError(
                describe_validation_error(error).replace("agent:", "target:")
            ) from None
        return self

    @property
    def strength(self) -> float:
        """The intensity asked for, or the type's default."""
        return FAULT_TYPES[self.type][1] if self.intensity is None else self.intensity


class ViewerLinkRequest(_Request):
    """POST /viewer-links: how long the presentation link stays valid."""

    ttl_s: Annotated[int, Field(ge=MIN_VIEWER_LINK_S, le=MAX_VIEWER_LINK_S)] = \
        DEFAULT_VIEWER_LINK_S


# ------------------------------------------------------------------------------ answers


class ErrorBody(_Answer):
    """Every refusal: one line naming the field or the reason."""

    error: str


class RunStarted(_Answer):
    run_id: str
    scenario: str
    duration_s: float
    peak_tps: float
    transactions: int | None = None
    execution_arn: str | None = None


class RunStopping(_Answer):
    """POST /runs/current/stop (or /runs/{run_id}/stop): the run that was asked to stop."""

    run_id: str
    status: str
    execution_stopped: bool | None = None
    experiments_stopped: list[str] | None = None


class FaultInjected(_Answer):
    """The local runtime answers with the fault's window on the run's clock; AWS with the FIS
    experiment that carries it out (its template fixes intensity and duration)."""

    type: FaultType
    target: AgentName | None = None
    status: str
    label: str | None = None
    intensity: float | None = None
    planned_start_s: float | None = None
    planned_end_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    experiment_id: str | None = None


class ExportLink(_Answer):
    """AWS answers an export with a short-lived link to the file; the local server sends the
    file itself."""

    url: str
    expires_in_s: int


class RunList(_Answer):
    current: str | None = None
    runs: list[dict[str, Any]]


class Phase(_Answer):
    name: str
    shape: str
    duration_s: float


class PlannedFault(_Answer):
    type: FaultType
    label: str
    target: str | None = None
    at_s: float
    duration_s: float


class ScenarioInfo(_Answer):
    name: str
    description: str
    duration_s: float
    peak_tps: float
    workers: int
    phases: list[Phase]
    faults: list[PlannedFault]


class Limits(_Answer):
    max_tps: float
    max_duration_s: float


class ScenarioList(_Answer):
    scenarios: list[ScenarioInfo]
    limits: Limits


class IntensityRange(_Answer):
    unit: Literal["ms", "fraction"]
    min: float
    max: float
    default: float


class FaultTypeInfo(_Answer):
    type: FaultType
    description: str
    targets: list[AgentName]
    intensity: IntensityRange


class FaultTypeList(_Answer):
    fault_types: list[FaultTypeInfo]
    max_duration_s: float


class ProfileList(_Answer):
    profiles: list[str]
    placeholders: dict[str, str]


class BenchmarkList(_Answer):
    benchmarks: list[Benchmark]


class ViewerLink(_Answer):
    url: str
    expires_at: int


class KillSwitch(_Answer):
    kill_switch: Literal["all", "off"]
    runs_stopped: list[str] | None = None


class BaselineRun(_Answer):
    """A finished run a page may overlay on the live one as its baseline."""

    run_id: str
    scenario: str
    status: str
    started_at: str
    ended_at: str | None
    passed: bool | None
    same_scenario: bool = Field(description="the same scenario as the one asked about")


class BaselineList(_Answer):
    """GET /baselines[?scenario=NAME]: finished runs, the scenario's own first, newest first."""

    scenario: str | None
    baselines: list[BaselineRun]


class SeriesPhase(_Answer):
    name: str
    start_s: float
    end_s: float


class SeriesSecond(_Answer):
    """One stored second of a run, the fields the analytics page charts."""

    second: int = Field(description="whole seconds since the run's start, as a tick's `second`")
    phase: str | None = Field(description="the scenario phase the second falls in")
    target_tps: float
    sent: int
    ok: int
    errors: int
    timeouts: int
    dropped: int
    errors_by_class: dict[str, int]
    error_rate: float | None = Field(description="(errors + timeouts) / sent")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    accuracy: float | None


class RunSeries(_Answer):
    """GET /runs/{run_id}/series: a finished run's per-second series, as stored."""

    run_id: str
    scenario: str
    status: str
    started_at: str
    duration_s: float
    phases: list[SeriesPhase]
    seconds: list[SeriesSecond]


# ------------------------------------------------------------------------------ shared logic


def parse_request(model: type[M], body: str | bytes | None, allow_empty: bool = False) -> M:
    """The body as `model`, or ContractError with one line naming the field."""
    if allow_empty and not body:
        body = "{}"
    try:
        data = json.loads(body or "")
    except ValueError:
        raise ContractError("body: not valid JSON") from None
    if not isinstance(data, dict):
        raise ContractError("body: expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ContractError(describe_validation_error(error)) from None


def scenario_list(scenarios_dir: Path, limits: Limits,
                  skipped: list[str] | None = None) -> ScenarioList:
    """Every bundled scenario that loads; the names of the others go to `skipped`."""
    scenarios = []
    for name in list_scenarios(scenarios_dir):
        try:
            spec = load_scenario(str(scenarios_dir / f"{name}.yaml"))
        except ScenarioError as error:
            if skipped is not None:
                skipped.append(f"{name}: {error}")
            continue
        scenarios.append(ScenarioInfo(
            name=spec.name, description=spec.description, duration_s=spec.duration,
            peak_tps=spec.profile().peak(), workers=spec.workers,
            phases=[Phase(name=p.name or "", shape=p.shape, duration_s=p.duration)
                    for p in spec.phases],
            faults=[PlannedFault(type=f.type, label=f.label, target=f.target, at_s=f.at,
                                 duration_s=f.duration) for f in spec.faults],
        ))
    return ScenarioList(scenarios=scenarios, limits=limits)


def fault_type_list() -> FaultTypeList:
    types = []
    for kind, (description, default) in FAULT_TYPES.items():
        delay = kind in DELAY_FAULTS
        types.append(FaultTypeInfo.model_validate({
            "type": kind, "description": description,
            "targets": [] if kind in SERVICE_WIDE_FAULTS else list(AGENT_NAMES),
            "intensity": {"unit": "ms" if delay else "fraction", "min": 0,
                          "max": MAX_ADDED_MS if delay else 1, "default": default},
        }))
    return FaultTypeList(fault_types=types, max_duration_s=MAX_FAULT_S)


def profile_list(presentation_dir: Path) -> ProfileList:
    return ProfileList(profiles=list_profiles(presentation_dir), placeholders=PLACEHOLDERS)


def benchmark_list(benchmarks_file: Path) -> BenchmarkList:
    """Only benchmarks with a source; PresentationError when the file cannot be used."""
    return BenchmarkList(benchmarks=load_benchmarks(benchmarks_file).sourced())


REQUESTS: tuple[type[BaseModel], ...] = (StartRun, InjectFault, ViewerLinkRequest)
ANSWERS: tuple[type[BaseModel], ...] = (
    ErrorBody, RunStarted, RunStopping, FaultInjected, ExportLink, RunList, ScenarioList,
    FaultTypeList, ProfileList, BenchmarkList, ViewerLink, KillSwitch, BaselineList, RunSeries,
)


def json_schema() -> dict[str, Any]:
    """One document: every request (as sent) and answer (as received) under $defs."""
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in REQUESTS), *((m, "serialization") for m in ANSWERS)]
    refs, schema = models_json_schema(keyed, ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": CONTROL_SCHEMA,
        "title": "ControlApi",
        "description": "The stresslab control API, browser to either runtime.",
        "type": "object",
        "properties": {model.__name__: refs[(model, mode)] for model, mode in keyed},
        "$defs": schema["$defs"],
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}")
