"""Load shapes: each phase's rate(t) is a pure function of time within the phase."""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stresslab.scenario.durations import parse_duration

Tps = Annotated[float, Field(ge=0, le=1_000_000)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = ""
    duration: float = Field(gt=0, description="seconds, or a string like 90s, 5m, 1h30m")

    @field_validator("duration", mode="before")
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        return parse_duration(value)

    def rate(self, t: float) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def peak(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def scaled(self, time_scale: float, load_scale: float) -> _Shape:
        """The same shape with durations times time_scale and rates times load_scale."""
        updates: dict[str, float] = {}
        for key, value in self.model_dump().items():
            if key in self._time_fields():
                updates[key] = value * time_scale
            elif key in self._rate_fields():
                updates[key] = value * load_scale
        return self.model_copy(update=updates)

    @classmethod
    def _time_fields(cls) -> frozenset[str]:
        return frozenset({"duration"})

    @classmethod
    def _rate_fields(cls) -> frozenset[str]:
        return frozenset()


class ConstantShape(_Shape):
    """A steady rate."""

    shape: Literal["constant", "sustained"]
    tps: Tps

    def rate(self, t: float) -> float:
        return self.tps

    def peak(self) -> float:
        return self.tps

    @classmethod
    def _rate_fields(cls) -> frozenset[str]:
        return frozenset({"tps"})


class RampShape(_Shape):
    """A linear change of rate from from_tps to to_tps over the phase."""

    shape: Literal["ramp", "ramp-up", "ramp-down"]
    from_tps: Tps = 0.0
    to_tps: Tps

    def rate(self, t: float) -> float:
        fraction = min(max(t / self.duration, 0.0), 1.0)
        return self.from_tps + (self.to_tps - self.from_tps) * fraction

    def peak(self) -> float:
        return max(self.from_tps, self.to_tps)

    @classmethod
    def _rate_fields(cls) -> frozenset[str]:
        return frozenset({"from_tps", "to_tps"})


class BurstShape(_Shape):
    """A baseline with a burst of burst_tps for burst_duration at the start of every period."""

    shape: Literal["burst"]
    base_tps: Tps
    burst_tps: Tps
    every: float = Field(gt=0)
    burst_duration: float = Field(gt=0)
    offset: float = Field(default=0.0, ge=0, description="time of the first burst")

    @field_validator("every", "burst_duration", "offset", mode="before")
    @classmethod
    def _parse_times(cls, value: object) -> object:
        return parse_duration(value)

    @model_validator(mode="after")
    def _burst_fits_period(self) -> BurstShape:
        if self.burst_duration >= self.every:
            raise ValueError("burst_duration must be shorter than every")
        return self

    def rate(self, t: float) -> float:
        if t < self.offset:
            return self.base_tps
        in_period = (t - self.offset) % self.every
        return self.burst_tps if in_period < self.burst_duration else self.base_tps

    def peak(self) -> float:
        return max(self.base_tps, self.burst_tps)

    @classmethod
    def _time_fields(cls) -> frozenset[str]:
        return frozenset({"duration", "every", "burst_duration", "offset"})

    @classmethod
    def _rate_fields(cls) -> frozenset[str]:
        return frozenset({"base_tps", "burst_tps"})


class WaveShape(_Shape):
    """A sine wave around mean_tps with the given amplitude and period."""

    shape: Literal["wave"]
    mean_tps: Tps
    amplitude_tps: Tps
    period: float = Field(gt=0)

    @field_validator("period", mode="before")
    @classmethod
    def _parse_period(cls, value: object) -> object:
        return parse_duration(value)

    @model_validator(mode="after")
    def _never_negative(self) -> WaveShape:
        if self.amplitude_tps > self.mean_tps:
            raise ValueError("amplitude_tps must not exceed mean_tps (the rate would go negative)")
        return self

    def rate(self, t: float) -> float:
        return self.mean_tps + self.amplitude_tps * math.sin(2 * math.pi * t / self.period)

    def peak(self) -> float:
        return self.mean_tps + self.amplitude_tps

    @classmethod
    def _time_fields(cls) -> frozenset[str]:
        return frozenset({"duration", "period"})

    @classmethod
    def _rate_fields(cls) -> frozenset[str]:
        return frozenset({"mean_tps", "amplitude_tps"})


class ChaosShape(_Shape):
    """Seeded random levels between min_tps and max_tps, changing every step seconds."""

    shape: Literal["chaos"]
    min_tps: Tps
    max_tps: Tps
    step: float = Field(default=5.0, gt=0)
    seed: int = 0

    @field_validator("step", mode="before")
    @classmethod
    def _parse_step(cls, value: object) -> object:
        return parse_duration(value)

    @model_validator(mode="after")
    def _ordered(self) -> ChaosShape:
        if self.min_tps > self.max_tps:
            raise ValueError("min_tps must not exceed max_tps")
        return self

    def rate(self, t: float) -> float:
        segment = int(t // self.step)
        digest = hashlib.blake2b(f"{self.seed}:{segment}".encode(), digest_size=8).digest()
        fraction = int.from_bytes(digest, "big") / 2**64
        return self.min_tps + (self.max_tps - self.min_tps) * fraction

    def peak(self) -> float:
        return self.max_tps

    @classmethod
    def _time_fields(cls) -> frozenset[str]:
        return frozenset({"duration", "step"})

    @classmethod
    def _rate_fields(cls) -> frozenset[str]:
        return frozenset({"min_tps", "max_tps"})


Phase = Annotated[
    ConstantShape | RampShape | BurstShape | WaveShape | ChaosShape,
    Field(discriminator="shape"),
]


class LoadProfile:
    """Phases composed in sequence; rate(t) over the whole run."""

    __slots__ = ("phases", "_starts", "duration")

    def __init__(self, phases: list[Phase]) -> None:
        self.phases = phases
        starts: list[float] = []
        elapsed = 0.0
        for phase in phases:
            starts.append(elapsed)
            elapsed += phase.duration
        self._starts = starts
        self.duration = elapsed

    def rate(self, t: float) -> float:
        if t < 0 or t >= self.duration:
            return 0.0
        for start, phase in zip(reversed(self._starts), reversed(self.phases), strict=True):
            if t >= start:
                return phase.rate(t - start)
        return 0.0  # pragma: no cover - t >= 0 always matches the first phase

    def peak(self) -> float:
        return max((phase.peak() for phase in self.phases), default=0.0)

    def phase_window(self, name: str) -> tuple[float, float] | None:
        for start, phase in zip(self._starts, self.phases, strict=True):
            if phase.name == name:
                return start, start + phase.duration
        return None

    def phase_names(self) -> list[str]:
        return [phase.name for phase in self.phases if phase.name]
