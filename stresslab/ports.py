"""Ports: what the core needs from the outside world, as Protocols that adapters implement."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from stresslab.measurement.metrics import MetricsBatch

OUTCOME_OK = "ok"
OUTCOME_TIMEOUT = "timeout"


@dataclass(slots=True)
class Outcome:
    """What came back for one request: 'ok', 'timeout' or an error class; the parsed body.

    `delivered` is False when the request never left this process (no connection in time, or
    none could be opened): the target cannot have counted it.
    """

    kind: str
    body: Any = None
    delivered: bool = True


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class Target(Protocol):
    """The system under test."""

    async def send(self, payload: dict[str, Any]) -> Outcome: ...


class MetricsSink(Protocol):
    """Where workers put their one-second MetricsBatches."""

    async def emit(self, batch: MetricsBatch) -> None: ...


class FaultInjector(Protocol):
    """Starts and clears faults on the system under test."""

    async def inject(self, fault: Any) -> str: ...

    async def clear(self, fault_id: str) -> None: ...

    async def clear_all(self) -> None: ...


class Broadcaster(Protocol):
    """Where dashboard messages (stresslab.live/v1 JSON) go; publish never waits for a viewer."""

    def publish(self, message: str) -> None: ...


class RealClock:
    """The event loop's monotonic clock and the system's wall clock."""

    now = staticmethod(time.monotonic)  # no Python frame: read twice per request

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))
