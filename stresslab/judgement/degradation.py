"""Graceful degradation: levels NONE / MODERATE / SEVERE / CRITICAL from live metrics."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from stresslab.measurement.aggregate import percentiles_us
from stresslab.measurement.metrics import WindowStats
from stresslab.scenario.settings import DegradationPolicy

Level = Literal["NONE", "MODERATE", "SEVERE", "CRITICAL"]
LEVELS: tuple[Level, ...] = ("NONE", "MODERATE", "SEVERE", "CRITICAL")
_RANK: dict[Level, int] = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class SecondHealth:
    """One closed second as the policy reads it; None: nothing to judge (no breach)."""

    error_rate: float | None = None
    p99_ms: float | None = None
    cpu_pct: float | None = None


@dataclass(frozen=True)
class LevelChange:
    """The level moved at `at_s` seconds into the run (the end of the second that moved it)."""

    at_s: float
    level: Level
    previous: Level
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"at_s": self.at_s, "level": self.level, "previous": self.previous,
                "reason": self.reason}


def health_of(stats: WindowStats, cpu_pct: float | None = None) -> SecondHealth:
    """A second's error rate (errors and timeouts over sent) and p99 of the answered requests.

    Failures are counted in the second they come back, so a second can hold more of them than
    it sent; the rate is capped at 1.
    """
    failed = stats.error_total + stats.timeouts
    p99 = None
    if stats.latency.get_total_count():
        p99 = percentiles_us(stats.latency, (99,))[0] / 1000.0
    return SecondHealth(
        error_rate=min(failed / stats.sent, 1.0) if stats.sent else None, p99_ms=p99,
        cpu_pct=cpu_pct,
    )


def assess(policy: DegradationPolicy, health: SecondHealth) -> tuple[Level, str]:
    """The level one second calls for on its own, and why (the worst breach wins)."""
    if health.error_rate is not None and health.error_rate > policy.critical_error_rate:
        return "CRITICAL", (f"error rate {health.error_rate:.1%} > "
                            f"{policy.critical_error_rate:.1%}")
    if health.p99_ms is not None and health.p99_ms > policy.severe_p99_ms:
        return "SEVERE", f"p99 {health.p99_ms:,.0f} ms > {policy.severe_p99_ms:,.0f} ms"
    if health.cpu_pct is not None and health.cpu_pct > policy.moderate_cpu_pct:
        return "MODERATE", f"target CPU {health.cpu_pct:.0f}% > {policy.moderate_cpu_pct:g}%"
    return "NONE", "within every threshold"


class DegradationTracker:
    """The level over a run: up at once on a breach, down only after recover_after_s seconds.

    Stepping down needs `recover_after_s` consecutive seconds that each call for less than the
    current level; it then goes to the worst level those seconds called for, so a CRITICAL
    run that settles at SEVERE readings steps to SEVERE, not straight to NONE. A breach in the
    middle of a recovery restarts the count, which is what keeps the level from flapping.
    """

    def __init__(self, policy: DegradationPolicy) -> None:
        self.policy = policy
        self.level: Level = "NONE"
        self.changes: list[LevelChange] = []
        self._recent: deque[Level] = deque(maxlen=policy.recover_after_s)

    def observe(self, second: int, health: SecondHealth) -> Level:
        """Feed one closed second (in order); the level from the end of that second."""
        wanted, reason = assess(self.policy, health)
        self._recent.append(wanted)
        if _RANK[wanted] > _RANK[self.level]:
            self._move(second, wanted, reason)
        elif len(self._recent) == self._recent.maxlen and all(
            _RANK[seen] < _RANK[self.level] for seen in self._recent
        ):
            settled = max(self._recent, key=_RANK.__getitem__)
            self._move(second, settled,
                       f"below {self.level} for {self.policy.recover_after_s} s")
        return self.level

    def _move(self, second: int, level: Level, reason: str) -> None:
        self.changes.append(LevelChange(at_s=float(second + 1), level=level,
                                        previous=self.level, reason=reason))
        self.level = level
