"""One way from a scenario source to the spec a run executes: load, override, scale, ceilings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from stresslab.scenario.spec import (
    SCENARIOS_DIR,
    ScenarioError,
    ScenarioSpec,
    describe_validation_error,
    list_scenarios,
    load_scenario,
    parse_scenario,
)

# A bundled scenario's name, a YAML file's path, or the scenario itself as a mapping.
ScenarioSource = str | Mapping[str, Any]


@dataclass(frozen=True)
class Overrides:
    """What a caller changes in the scenario: a constant rate for a time, the worker count,
    the random seed; None leaves the scenario's own."""

    tps: float | None = None
    duration: float | None = None
    workers: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Scales:
    """Durations times `time`, rates times `load`."""

    time: float = 1.0
    load: float = 1.0


class Ceilings(BaseModel):
    """The highest peak rate and the longest run a runtime accepts."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    max_tps: float
    max_duration_s: float


class AboveCeiling(ScenarioError):
    """The resolved scenario goes past a ceiling; each runtime words it for its own users."""

    def __init__(self, limit: Literal["tps", "duration"], value: float, ceiling: float) -> None:
        super().__init__(f"{limit} {value:g} is above the ceiling of {ceiling:g}")
        self.limit = limit
        self.value = value
        self.ceiling = ceiling

    def worded(self, wording: CeilingWording) -> str:
        """The refusal in a runtime's own words."""
        word = wording.tps if self.limit == "tps" else wording.duration
        return word(self.value, self.ceiling)


@dataclass(frozen=True)
class CeilingWording:
    """How a runtime tells its users a ceiling was passed: (value, ceiling) -> one line."""

    tps: Callable[[float, float], str]
    duration: Callable[[float, float], str]


def scenario_error_line(error: ScenarioError) -> str:
    """A scenario's error as one line naming the field: `scenario` when it names none."""
    message = str(error)
    return message if message.startswith("scenario") else f"scenario: {message}"


def load_source(
    source: ScenarioSource, scenarios_dir: Path = SCENARIOS_DIR, *, bundled_only: bool = False
) -> ScenarioSpec:
    """The scenario a source names; `bundled_only`: a name is looked up in `scenarios_dir`
    alone, never read as a path."""
    if not isinstance(source, str):
        return parse_scenario(dict(source), "scenario")
    if not bundled_only:
        return load_scenario(source, scenarios_dir)
    path = scenarios_dir / f"{source}.yaml"
    if not path.is_file():
        known = ", ".join(list_scenarios(scenarios_dir))
        raise ScenarioError(f"unknown scenario {source!r}; known: {known}")
    return load_scenario(str(path))


def override(spec: ScenarioSpec, overrides: Overrides) -> ScenarioSpec:
    """A constant rate for a time (both or neither), then the worker count and the random seed."""
    if (overrides.tps is None) != (overrides.duration is None):
        raise ScenarioError("--tps and --duration go together")
    if overrides.tps is not None and overrides.duration is not None:
        spec = spec.at_constant_rate(overrides.tps, overrides.duration)
    fields = {key: value for key, value in (("workers", overrides.workers),
                                            ("seed", overrides.seed)) if value is not None}
    if not fields:
        return spec
    try:
        return ScenarioSpec.model_validate({**spec.model_dump(), **fields})
    except ValidationError as error:
        raise ScenarioError(describe_validation_error(error)) from None


def check_ceilings(spec: ScenarioSpec, ceilings: Ceilings) -> None:
    """AboveCeiling for a peak rate, then a duration, above the ceilings."""
    peak = spec.profile().peak()
    if peak > ceilings.max_tps:
        raise AboveCeiling("tps", peak, ceilings.max_tps)
    if spec.duration > ceilings.max_duration_s:
        raise AboveCeiling("duration", spec.duration, ceilings.max_duration_s)


def resolve_scenario(
    source: ScenarioSource,
    overrides: Overrides | None = None,
    scales: Scales | None = None,
    ceilings: Ceilings | None = None,
    *,
    scenarios_dir: Path = SCENARIOS_DIR,
    bundled_only: bool = False,
) -> ScenarioSpec:
    """The spec to run: loaded, overridden, scaled (unless `scales` is None), then checked
    against the ceilings (if any).

    Every refusal is a ScenarioError (AboveCeiling for a ceiling), one line.
    """
    spec = override(load_source(source, scenarios_dir, bundled_only=bundled_only),
                    overrides or Overrides())
    if scales is not None:
        spec = spec.scaled(scales.time, scales.load)
    if ceilings is not None:
        check_ceilings(spec, ceilings)
    return spec
