"""Capacity search: step the rate up until a criterion breaks, back off, report the highest
rate that met the criteria."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stresslab.criteria import Criterion
from stresslab.durations import parse_duration


class CapacitySearch(BaseModel):
    """How to search: rates from start_tps in steps of step_tps, each held step_duration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_tps: Annotated[float, Field(gt=0, le=1_000_000)]
    step_tps: Annotated[float, Field(gt=0, le=1_000_000)]
    max_tps: Annotated[float, Field(gt=0, le=1_000_000)]
    step_duration: Annotated[float, Field(gt=0, le=3600)] = 20.0
    refine_steps: Annotated[int, Field(ge=0, le=10)] = 3
    criteria: list[Criterion] = Field(
        default_factory=list, description="judged on every step; the scenario's when empty"
    )

    @field_validator("step_duration", mode="before")
    @classmethod
    def _parse_step(cls, value: object) -> object:
        return parse_duration(value)

    @model_validator(mode="after")
    def _ordered(self) -> CapacitySearch:
        if self.max_tps < self.start_tps:
            raise ValueError("max_tps must be at least start_tps")
        return self
