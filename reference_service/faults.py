"""Injected faults: the admin request model and FaultState, which expires faults on its clock."""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from reference_service.config import AgentName

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
MAX_DURATION_S = 86_400.0
REMEMBERED_KEYS = 256


class FaultRefused(ValueError):
    """A fault that would break a cap of the service (how many, how much delay in all)."""


@dataclass(frozen=True, slots=True)
class FaultCaps:
    """Bounds on what the admin API may do to the service at once."""

    max_faults: int = 16
    max_added_ms: float = 30_000.0
    max_duration_s: float = 3_600.0


def happens(rng: random.Random, chance: float) -> bool:
    """Roll for an event of probability `chance`, without spending a draw on 0 or 1."""
    return chance > 0 and (chance >= 1 or rng.random() < chance)


class FaultSpec(BaseModel):
    """Body of POST /admin/faults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    type: FaultType
    agent: AgentName | None = None
    intensity: float | None = Field(default=None, allow_inf_nan=False, validate_default=True)
    # Every fault ends by itself: a client that dies mid-run cannot leave the service broken.
    duration_s: float = Field(gt=0, le=MAX_DURATION_S, allow_inf_nan=False)

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
    """A fault in force since `started_at` until `expires_at`."""

    fault_id: str
    spec: FaultSpec
    started_at: float
    expires_at: float

    @property
    def intensity(self) -> float:
        return 1.0 if self.spec.intensity is None else self.spec.intensity

    def describe(self, now: float) -> dict[str, Any]:
        remaining = max(0.0, self.expires_at - now)
        return {
            "fault_id": self.fault_id,
            "type": self.spec.type,
            "agent": self.spec.agent,
            "intensity": self.intensity,
            "duration_s": self.spec.duration_s,
            "active_for_s": round(now - self.started_at, 3),
            "remaining_s": round(remaining, 3),
        }


class FaultState:
    """The faults in force; every query first drops the ones whose duration has passed.

    The admin thread writes and the scoring loop reads: writers hold a lock and replace the
    dict whole, so a reader iterates a dict that no one changes under it, without a lock.
    """

    def __init__(self, clock: Clock, caps: FaultCaps | None = None) -> None:
        self._clock = clock
        self._caps = caps or FaultCaps()
        self._faults: dict[str, ActiveFault] = {}
        self._next_expiry = math.inf
        self._ids = itertools.count(1)
        self._keys: OrderedDict[str, ActiveFault] = OrderedDict()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, spec: FaultSpec) -> ActiveFault:
        """Put a fault in force; FaultRefused if it would break a cap."""
        return self.add_once(spec, None)[0]

    def add_once(
        self, spec: FaultSpec, key: str | None, fault_id: str | None = None,
    ) -> tuple[ActiveFault, bool]:
        """The fault now in force and True; or, for a key seen before, that fault and False.

        A client that timed out on its POST retries with the same key and gets the fault it
        already made, rather than a second one on top. `fault_id`: the id process 0 of a
        several-process service gave it, so one DELETE reaches the same fault everywhere.
        """
        with self._lock:
            if key is not None and key in self._keys:
                return self._keys[key], False
            now = self._clock()
            self._expire_locked(now)
            self._check_caps(spec)
            fault_id = fault_id or f"fault-{next(self._ids)}"
            fault = ActiveFault(fault_id, spec, now, now + spec.duration_s)
            self._faults = {**self._faults, fault.fault_id: fault}
            self._next_expiry = min(self._next_expiry, fault.expires_at)
            if key is not None:
                self._keys[key] = fault
                if len(self._keys) > REMEMBERED_KEYS:
                    self._keys.popitem(last=False)
            return fault, True

    def _check_caps(self, spec: FaultSpec) -> None:
        caps = self._caps
        if spec.duration_s > caps.max_duration_s:
            raise FaultRefused(f"duration_s: at most {caps.max_duration_s:g} s on this service")
        if len(self._faults) >= caps.max_faults:
            raise FaultRefused(f"faults: at most {caps.max_faults} at once; clear one first")
        if spec.type in DELAY_FAULTS:
            added = sum(f.intensity for f in self._faults.values() if f.spec.type in DELAY_FAULTS)
            if added + (spec.intensity or 0.0) > caps.max_added_ms:
                raise FaultRefused(f"intensity: latency faults may add at most "
                                   f"{caps.max_added_ms:g} ms in all ({added:g} ms in force)")

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            self._expire_locked(self._clock())
            if fault_id not in self._faults:
                return False
            self._faults = {k: f for k, f in self._faults.items() if k != fault_id}
            return True

    def clear(self) -> int:
        with self._lock:
            self._expire_locked(self._clock())
            cleared = len(self._faults)
            self._faults = {}
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
        with self._lock:
            self._expire_locked(now)

    def _expire_locked(self, now: float) -> None:
        if now < self._next_expiry:
            return
        self._faults = {
            fault_id: fault for fault_id, fault in self._faults.items() if fault.expires_at > now
        }
        self._next_expiry = min((f.expires_at for f in self._faults.values()), default=math.inf)
