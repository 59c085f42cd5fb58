"""Injected faults: the admin request model and FaultState, which expires faults on its clock."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from stresslab.target.config import AgentName

FaultType = Literal[
    "agent_errors", "latency", "throttle", "agent_down", "slow_store", "drop_connections"
]
Clock = Callable[[], float]

FRACTION_FAULTS: frozenset[str] = frozenset(
    {"agent_errors", "throttle", "drop_connections", "agent_down"}
)
DELAY_FAULTS: frozenset[str] = frozenset({"latency", "slow_store"})
# These act on the request or the card store, never on one agent.
SERVICE_WIDE_FAULTS: frozenset[str] = frozenset({"slow_store", "drop_connections"})
MAX_ADDED_MS = 60_000.0


def happens(rng: random.Random, chance: float) -> bool:
    """Roll for an event of probability `chance`, without spending a draw on 0 or 1."""
    return chance > 0 and (chance >= 1 or rng.random() < chance)


class FaultSpec(BaseModel):
    """Body of POST /admin/faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FaultType
    agent: AgentName | None = None
    intensity: float | None = Field(default=None, allow_inf_nan=False, validate_default=True)
    duration_s: float | None = Field(default=None, gt=0, le=86_400, allow_inf_nan=False)

    @field_validator("agent")
    @classmethod
    def _agent_applies(cls, agent: AgentName | None, info: ValidationInfo) -> AgentName | None:
        kind = info.data.get("type")
        if agent is not None and kind in SERVICE_WIDE_FAULTS:
            raise ValueError(f"must be omitted for {kind} faults")
        return agent

    @field_validator("intensity")
    @classmethod
    def _intensity_in_range(cls, intensity: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("type")
        if intensity is None:
            if kind == "agent_down":
                return None  # fully down unless a fraction is given
            raise ValueError(f"is required for {kind} faults")
        if kind in FRACTION_FAULTS and not 0 <= intensity <= 1:
            raise ValueError(f"must be a fraction within 0..1 for {kind} faults")
        if kind in DELAY_FAULTS and not 0 <= intensity <= MAX_ADDED_MS:
            raise ValueError(f"must be milliseconds within 0..{MAX_ADDED_MS:g} for {kind} faults")
        return intensity


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in force since `started_at` until `expires_at` (None: until cleared)."""

    fault_id: str
    spec: FaultSpec
    started_at: float
    expires_at: float | None

    @property
    def intensity(self) -> float:
        return 1.0 if self.spec.intensity is None else self.spec.intensity

    def describe(self, now: float) -> dict[str, Any]:
        remaining = None if self.expires_at is None else max(0.0, self.expires_at - now)
        return {
            "fault_id": self.fault_id,
            "type": self.spec.type,
            "agent": self.spec.agent,
            "intensity": self.intensity,
            "duration_s": self.spec.duration_s,
            "active_for_s": round(now - self.started_at, 3),
            "remaining_s": None if remaining is None else round(remaining, 3),
        }


class FaultState:
    """The faults in force; every query first drops the ones whose duration has passed."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._faults: dict[str, ActiveFault] = {}
        self._next_expiry = math.inf
        self._ids = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, spec: FaultSpec) -> ActiveFault:
        now = self._clock()
        expires_at = None if spec.duration_s is None else now + spec.duration_s
        fault = ActiveFault(f"fault-{next(self._ids)}", spec, now, expires_at)
        self._faults[fault.fault_id] = fault
        if expires_at is not None:
            self._next_expiry = min(self._next_expiry, expires_at)
        return fault

    def remove(self, fault_id: str) -> bool:
        self._expire()
        return self._faults.pop(fault_id, None) is not None

    def clear(self) -> int:
        self._expire()
        cleared = len(self._faults)
        self._faults.clear()
        self._next_expiry = math.inf
        return cleared

    def active(self) -> list[ActiveFault]:
        self._expire()
        return list(self._faults.values())

    def describe(self) -> list[dict[str, Any]]:
        now = self._clock()
        return [fault.describe(now) for fault in self.active()]

    def fraction(self, kind: FaultType, agent: AgentName | None) -> float:
        """Chance that a request meets fault `kind` at `agent` (None: the request as a whole)."""
        passing = 1.0
        for fault in self._matching(kind, agent):
            passing *= 1.0 - fault.intensity
        return 1.0 - passing

    def added_ms(self, kind: FaultType, agent: AgentName | None) -> float:
        """Milliseconds that faults of `kind` add at `agent` (None: the request as a whole)."""
        return sum(fault.intensity for fault in self._matching(kind, agent))

    def down_fraction(self, agent: AgentName) -> float:
        """Share of calls `agent` cannot take; agent_down without an agent downs every agent."""
        passing = 1.0
        for fault in self._matching("agent_down", agent, or_unnamed=True):
            passing *= 1.0 - fault.intensity
        return 1.0 - passing

    def _matching(
        self, kind: FaultType, agent: AgentName | None, *, or_unnamed: bool = False
    ) -> list[ActiveFault]:
        if not self._faults:
            return []
        self._expire()
        return [
            fault
            for fault in self._faults.values()
            if fault.spec.type == kind
            and (fault.spec.agent == agent or (or_unnamed and fault.spec.agent is None))
        ]

    def _expire(self) -> None:
        now = self._clock()
        if now < self._next_expiry:
            return
        self._faults = {
            fault_id: fault
            for fault_id, fault in self._faults.items()
            if fault.expires_at is None or fault.expires_at > now
        }
        self._next_expiry = min(
            (f.expires_at for f in self._faults.values() if f.expires_at is not None),
            default=math.inf,
        )
