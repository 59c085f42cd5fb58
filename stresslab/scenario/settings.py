"""The settings models a scenario holds: how to search capacity, measure each fault's
resilience and degrade; they live with the schema, not beside the algorithms that use them."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stresslab.scenario.criteria import Criterion
from stresslab.scenario.durations import parse_duration

MAX_NAMES = 64  # distinct decisions / agents a merged window holds, whatever workers send
MAX_SEARCH_STEPS = 100
RECOVERY_FLOOR_S = 3  # per-second noise does not shrink when the timeline is compressed
_EPSILON = 1e-9


class CapacitySearch(BaseModel):
    """How to search: rates from start_tps in steps of step_tps, each held step_duration."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start_tps: Annotated[float, Field(gt=0, le=1_000_000)]
    step_tps: Annotated[float, Field(gt=0, le=1_000_000)]
    max_tps: Annotated[float, Field(gt=0, le=1_000_000)]
    step_duration: Annotated[float, Field(gt=0, le=3600)] = 20.0
    refine_steps: Annotated[int, Field(ge=0, le=10)] = 3
    criteria: list[Criterion] = Field(
        default_factory=list, description="judged on every step; the scenario's when empty"
    )
    max_lag_p99_ms: Annotated[float, Field(
        gt=0, le=60_000,
        description="a step whose generator schedule lag p99 is above this is generator-limited",
    )] = 200.0

    @field_validator("step_duration", mode="before")
    @classmethod
    def _parse_step(cls, value: object) -> object:
        return parse_duration(value)

    @model_validator(mode="after")
    def _ordered(self) -> CapacitySearch:
        if self.max_tps < self.start_tps:
            raise ValueError("max_tps must be at least start_tps")
        if self.max_steps > MAX_SEARCH_STEPS:
            raise ValueError(
                f"the search could take {self.max_steps} steps (at most {MAX_SEARCH_STEPS}); "
                "raise step_tps or lower max_tps"
            )
        for criterion in self.criteria:
            timed = criterion.start is not None or criterion.end is not None
            if criterion.during is not None or (criterion.window_label != "run" and not timed):
                raise ValueError(
                    f"criterion {criterion.expr!r}: a step has no phases or faults to judge "
                    "on; judge the whole step or a start/end window"
                )
            if (criterion.start or 0.0) >= self.step_duration or (
                criterion.end is not None and criterion.end > self.step_duration
            ):
                raise ValueError(
                    f"criterion {criterion.expr!r}: its window must lie within the "
                    f"step_duration ({self.step_duration:g}s)"
                )
        return self

    def step_up_rate(self, index: int) -> float:
        """The rate of the step-up stage's step `index` (from 0)."""
        return min(self.start_tps + index * self.step_tps, self.max_tps)

    @property
    def step_up_count(self) -> int:
        """How many steps the step-up stage takes if every one passes."""
        return math.ceil((self.max_tps - self.start_tps) / self.step_tps - 1e-9) + 1

    @property
    def step_up_rates(self) -> list[float]:
        return [self.step_up_rate(i) for i in range(self.step_up_count)]

    @property
    def max_steps(self) -> int:
        return self.step_up_count + self.refine_steps

    def scaled(self, time_scale: float = 1.0, load_scale: float = 1.0) -> CapacitySearch:
        """Rates times load_scale, the step duration and criteria windows times time_scale."""
        return self.model_copy(
            update={
                "start_tps": self.start_tps * load_scale,
                "step_tps": self.step_tps * load_scale,
                "max_tps": self.max_tps * load_scale,
                "step_duration": self.step_duration * time_scale,
                "criteria": [c.scaled(time_scale) for c in self.criteria],
            }
        )


def _percent(value: object) -> object:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            return value
    return value


class ResilienceSettings(BaseModel):
    """How each fault is measured; the defaults suit full-length and compressed runs alike."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    baseline: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=30.0, description="at most this long before a fault is its baseline"
    )
    min_baseline: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=3.0, description="fewer clean seconds than this: no baseline"
    )
    warmup: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=1.0, description="the run's first seconds, never part of a baseline"
    )
    error_tolerance: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.01, description="a second breaches above the baseline error rate + this"
    )
    latency_tolerance: Annotated[float, Field(ge=0, le=100)] = Field(
        default=0.5, description="a second breaches above the baseline p95 x (1 + this)"
    )
    latency_slack_ms: Annotated[float, Field(ge=0, le=600_000)] = Field(
        default=25.0, description="and above the baseline p95 + this: smaller moves are noise"
    )
    recover_for: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=5.0, description="consecutive seconds back within baseline that make a recovery"
    )

    _durations = field_validator("baseline", "min_baseline", "warmup", "recover_for",
                                 mode="before")(parse_duration)
    _percents = field_validator("error_tolerance", "latency_tolerance", mode="before")(_percent)

    @model_validator(mode="after")
    def _ordered(self) -> ResilienceSettings:
        if self.min_baseline > self.baseline:
            raise ValueError("resilience.min_baseline must not exceed resilience.baseline")
        return self

    def recovery_seconds(self, time_scale: float = 1.0) -> int:
        """N, scaled with the timeline but never below a few seconds (nor above N itself
        when the run is compressed)."""
        wanted = max(1, math.ceil(self.recover_for - _EPSILON))
        return max(min(wanted, RECOVERY_FLOOR_S), math.ceil(wanted * time_scale - _EPSILON))


class DegradationPolicy(BaseModel):
    """The design brief's thresholds (configurable) and whether to apply strategies to the
    target."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    apply: bool = Field(default=False, description="tell the target to degrade (shed, fast path)")
    critical_error_rate: Annotated[float, Field(gt=0, le=1)] = 0.10
    severe_p99_ms: Annotated[float, Field(gt=0)] = 5000.0
    moderate_cpu_pct: Annotated[float, Field(gt=0, le=100)] = 90.0
    recover_after_s: Annotated[int, Field(ge=1, le=600)] = 5
