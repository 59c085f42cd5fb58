"""Graceful degradation: levels NONE / MODERATE / SEVERE / CRITICAL from live metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["NONE", "MODERATE", "SEVERE", "CRITICAL"]
LEVELS: tuple[Level, ...] = ("NONE", "MODERATE", "SEVERE", "CRITICAL")


class DegradationPolicy(BaseModel):
    """The seed's thresholds (configurable) and whether to apply strategies to the target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    apply: bool = Field(default=False, description="tell the target to degrade (shed, fast path)")
    critical_error_rate: Annotated[float, Field(gt=0, le=1)] = 0.10
    severe_p99_ms: Annotated[float, Field(gt=0)] = 5000.0
    moderate_cpu_pct: Annotated[float, Field(gt=0, le=100)] = 90.0
    recover_after_s: Annotated[int, Field(ge=1, le=600)] = 5
