"""A local run's time as its parts share it: when it started, whether it is over."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class RunClock:
    """`started` is the epoch second the workers begin at (None until then); `ended` is set once
    the run stops sending, so the parts know side work from now on is cleanup."""

    now: Callable[[], float] = time.time
    started: float | None = None
    ended: bool = False

    @property
    def under_way(self) -> bool:
        return self.started is not None and not self.ended

    def elapsed(self) -> float:
        """Seconds since the start (0 before it), never negative."""
        return 0.0 if self.started is None else max(self.now() - self.started, 0.0)
