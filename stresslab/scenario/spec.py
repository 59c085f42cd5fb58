"""ScenarioSpec: a stress scenario as data, validated, scaled and overridden before it runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stresslab.generation.catalog import CURRENCIES
from stresslab.project_data import SCENARIOS_DIR
from stresslab.scenario.criteria import Criterion, is_fault_ref
from stresslab.scenario.durations import parse_duration
from stresslab.scenario.errors import PLACED_ERROR, describe_validation_error
from stresslab.scenario.mix import TransactionMix
from stresslab.scenario.profiles import ConstantShape, LoadProfile, Phase
from stresslab.scenario.regressions import RegressionRule
from stresslab.scenario.settings import (
    MAX_NAMES,
    CapacitySearch,
    DegradationPolicy,
    ResilienceSettings,
)
from stresslab.targets.config import AnyTarget, TargetConfigError, TargetSpec
from stresslab.targets.section import parse_target

FaultType = Literal[
    "agent_errors", "latency", "throttle", "agent_down", "slow_store", "drop_connections"
]


MAX_SCENARIO_BYTES = 1024 * 1024
MAX_RUN_S = 7 * 24 * 3600  # plans keep a number per second: a longer run is a mistake
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class ScenarioError(ValueError):
    """A scenario that cannot run: unknown, unreadable or invalid. The message is one line."""

    def __init__(self, message: str) -> None:
        # names and values from the file end up in the message: keep it one printable line
        super().__init__(_LINE_BREAKS.sub(" ", message))


def _seconds(value: object) -> object:
    return parse_duration(value)


def _known_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(f"unknown currency {value!r}; known: {', '.join(sorted(CURRENCIES))}")
    return value


# An ISO-4217 code stresslab has minor units and a reference rate for.
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]


class FaultSpec(BaseModel):
    """A fault on the run's timeline."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    type: FaultType
    label: str = Field(default="", description="what it stands for, e.g. 'Lambda crash'")
    target: str | None = Field(default=None, description="agent name; all agents when absent")
    at: Annotated[float, Field(ge=0)]
    duration: Annotated[float, Field(gt=0)]
    intensity: Annotated[float, Field(ge=0)] = 1.0

    _parse_times = field_validator("at", "duration", mode="before")(_seconds)

    @property
    def end(self) -> float:
        return self.at + self.duration

    @property
    def key(self) -> str:
        return f"{self.type}:{self.target or 'all'}"


class ResponseMapping(BaseModel):
    """Where the target's answer keeps its decision, and which decisions mean 'flagged'."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    decision_field: str = "decision"
    flagged_values: tuple[str, ...] = ("block", "review")
    agents_field: str | None = "agents"
    usage_field: str | None = "usage"  # model tokens per agent, priced for the cost
    max_decisions: Annotated[int, Field(ge=1, le=MAX_NAMES)] = 8
    max_agents: Annotated[int, Field(ge=1, le=MAX_NAMES)] = 16
    max_name_length: Annotated[int, Field(ge=8, le=256)] = 64


class HttpSettings(BaseModel):
    """How workers talk to an HTTP target."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    path: str = "/v1/score"
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_in_flight: Annotated[int, Field(ge=1, le=100_000)] = 2048
    max_lag: Annotated[float, Field(gt=0, le=60)] = 1.0
    connections: Annotated[int, Field(ge=1, le=10_000)] = 256
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024

    _parse_times = field_validator("timeout", "max_lag", mode="before")(_seconds)


class ScenarioSpec(BaseModel):
    """One stress scenario: load phases, criteria, faults, transaction mix."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    description: str = ""
    phases: Annotated[list[Phase], Field(min_length=1, max_length=1000)]
    criteria: list[Criterion] = Field(default_factory=list)
    # judged by `stresslab compare` against a baseline run (scenario/regressions.py)
    regressions: list[RegressionRule] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    mix: TransactionMix = Field(default_factory=TransactionMix)
    response: ResponseMapping = Field(default_factory=ResponseMapping)
    http: HttpSettings = Field(default_factory=HttpSettings)
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    seed: Annotated[int, Field(ge=0)] = 42
    reporting_currency: CurrencyCode = "USD"
    degradation: DegradationPolicy = Field(default_factory=DegradationPolicy)
    capacity_search: CapacitySearch | None = None
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    time_scale: Annotated[float, Field(gt=0, le=1000)] = 1.0
    load_scale: Annotated[float, Field(gt=0, le=1000)] = 1.0
    # the system under test; None: the bundled reference service or the --target URL, with
    # the top-level `response:` and `http:` sections as before
    target: TargetSpec | None = None

    @field_validator("target", mode="before")
    @classmethod
    def _target_section(cls, value: object) -> object:
        if value is None or isinstance(value, AnyTarget):
            return value
        try:
            return parse_target(value, "target")
        except TargetConfigError as error:
            raise PydanticCustomError(PLACED_ERROR, str(error)) from None

    @model_validator(mode="after")
    def _references_resolve(self) -> ScenarioSpec:
        names = [phase.name for phase in self.phases if phase.name]
        if len(names) != len(set(names)):
            raise ValueError("phase names must be unique")
        reserved = [name for name in names if is_fault_ref(name)]
        if reserved:
            raise ValueError(f"phase name {reserved[0]!r} is reserved for fault windows")
        for criterion in self.criteria:
            if criterion.phase is not None and criterion.phase not in names:
                raise ValueError(
                    f"criterion {criterion.expr!r} names unknown phase {criterion.during!r}; "
                    f"phases: {', '.join(names) or 'none named'}"
                )
            self._check_fault_reference(criterion)
        duration = self.duration
        if duration > MAX_RUN_S:
            raise ValueError(f"the run lasts {duration:g}s; at most {MAX_RUN_S}s (7 days)")
        for fault in self.faults:
            if fault.at >= duration:
                raise ValueError(
                    f"fault {fault.type} at {fault.at:g}s starts after the run ends ({duration:g}s)"
                )
        return self

    def _check_fault_reference(self, criterion: Criterion) -> None:
        fault = criterion.fault
        if fault is None:
            return
        kind, ref = fault
        where = f"criterion {criterion.expr!r} ({kind}: {ref.render()})"
        if not self.faults:
            raise ValueError(f"{where} is judged per fault, but the scenario has no faults")
        if isinstance(ref.which, int) and ref.which > len(self.faults):
            raise ValueError(
                f"{where} names fault {ref.which}; the scenario has {len(self.faults)} "
                "(numbered from 1 in the order they start)"
            )
        labels = [f.label for f in self.faults if f.label]
        if isinstance(ref.which, str) and ref.which.casefold() not in {
            label.casefold() for label in labels
        }:
            raise ValueError(
                f"{where} names unknown fault {ref.which!r}; labels: "
                f"{', '.join(repr(label) for label in labels) or 'none'}"
            )

    @property
    def duration(self) -> float:
        return sum(phase.duration for phase in self.phases)

    def profile(self) -> LoadProfile:
        return LoadProfile(list(self.phases))

    def scaled(self, time_scale: float = 1.0, load_scale: float = 1.0) -> ScenarioSpec:
        """Durations times time_scale and rates times load_scale (recorded in the spec)."""
        if time_scale <= 0 or load_scale <= 0:
            raise ScenarioError("--time-scale and --load-scale must be greater than 0")
        if self.duration * time_scale > MAX_RUN_S:
            raise ScenarioError(f"--time-scale {time_scale:g} makes the run last "
                                f"{self.duration * time_scale:g}s; at most {MAX_RUN_S}s (7 days)")
        return self.model_copy(
            update={
                "phases": [p.scaled(time_scale, load_scale) for p in self.phases],
                "criteria": [c.scaled(time_scale) for c in self.criteria],
                "faults": [
                    f.model_copy(
                        update={"at": f.at * time_scale, "duration": f.duration * time_scale}
                    )
                    for f in self.faults
                ],
                "time_scale": self.time_scale * time_scale,
                "load_scale": self.load_scale * load_scale,
            }
        )

    def at_constant_rate(self, tps: float, duration: float) -> ScenarioSpec:
        """The same scenario with its shape replaced by a constant rate for a duration."""
        if tps <= 0:
            raise ScenarioError(f"--tps must be greater than 0, got {tps:g}")
        if duration <= 0:
            raise ScenarioError(f"--duration must be greater than 0, got {duration:g}")
        phase = ConstantShape(shape="constant", name="constant", tps=tps, duration=duration)
        faults = [f for f in self.faults if f.at < duration]
        labels = {f.label.casefold() for f in faults if f.label}
        criteria = [c for c in self.criteria if c.run_wide or _still_judged(c, faults, labels)]
        return self.model_copy(update={"phases": [phase], "criteria": criteria, "faults": faults})


def _still_judged(criterion: Criterion, faults: list[FaultSpec], labels: set[str]) -> bool:
    """A per-fault criterion survives a shorter run if the faults it names still happen."""
    fault = criterion.fault
    if fault is None or not faults:
        return False
    which = fault[1].which
    if isinstance(which, str):
        return which.casefold() in labels
    return which is None or which <= len(faults)


def parse_scenario(data: object, source: str) -> ScenarioSpec:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario fields at the top level")
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(f"{source}: {describe_validation_error(error)}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply") from None


def load_scenario(name_or_path: str, scenarios_dir: Path = SCENARIOS_DIR) -> ScenarioSpec:
    """A scenario by name (scenarios/NAME.yaml) or by file path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name_or_path):
            raise ScenarioError(f"unknown scenario {name_or_path!r}")
        path = scenarios_dir / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(list_scenarios(scenarios_dir))
            raise ScenarioError(f"unknown scenario {name_or_path!r}; known: {known}")
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SCENARIO_BYTES + 1)
    except OSError as error:
        raise ScenarioError(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: larger than {MAX_SCENARIO_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ScenarioError(f"{path}: malformed YAML: nested too deeply") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "malformed YAML"
        raise ScenarioError(f"{path}:{where} malformed YAML: {problem}") from None
    return parse_scenario(data, str(path))


def list_scenarios(scenarios_dir: Path = SCENARIOS_DIR) -> list[str]:
    return sorted(p.stem for p in scenarios_dir.glob("*.yaml"))
