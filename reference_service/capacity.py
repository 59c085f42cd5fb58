"""Agent capacity: each agent is a FIFO queue with parallel slots and a bounded waiting room."""

from __future__ import annotations

import heapq
import math
import random

from reference_service.config import AgentConfig


class ServiceTime:
    """Lognormal service time with the configured mean, in seconds."""

    def __init__(self, mean_ms: float, sigma: float, rng: random.Random) -> None:
        self._mean_s = mean_ms / 1000
        self._sigma = sigma
        self._mu = math.log(self._mean_s) - sigma * sigma / 2 if mean_ms > 0 else 0.0
        self._rng = rng

    def sample(self) -> float:
        if self._mean_s <= 0:
            return 0.0
        if self._sigma == 0:
            return self._mean_s
        return self._rng.lognormvariate(self._mu, self._sigma)


class AgentLane:
    """`concurrency` slots served in arrival order, with at most `max_queue` calls waiting.

    The lane keeps when each slot frees up, so a call's start and end are known the moment
    it is admitted: the caller sleeps once until its end instead of queueing on a lock,
    which keeps the event loop cheap at thousands of calls a second. A call abandoned by
    its caller keeps its slot until its end, as a real agent would.
    """

    def __init__(self, config: AgentConfig, rng: random.Random) -> None:
        self.concurrency = config.concurrency
        self.max_queue = config.max_queue
        self.service_time = ServiceTime(config.service_time_ms, config.service_time_sigma, rng)
        self._slot_free_at = [0.0] * config.concurrency
        self._ends: list[float] = []
        self._starts: list[float] = []

    def has_room(self, now: float) -> bool:
        self._forget_past(now)
        return len(self._ends) < self.concurrency + self.max_queue

    def schedule(self, now: float, service_s: float) -> float:
        """Admit a call arriving at `now`; returns when it will be done."""
        free_at = heapq.heappop(self._slot_free_at)
        start = free_at if free_at > now else now
        end = start + service_s
        heapq.heappush(self._slot_free_at, end)
        heapq.heappush(self._ends, end)
        if start > now:
            heapq.heappush(self._starts, start)
        return end

    def load(self, now: float) -> tuple[int, int]:
        """(calls being served, calls waiting for a slot) at `now`."""
        self._forget_past(now)
        queued = len(self._starts)
        return len(self._ends) - queued, queued

    def peek_load(self, now: float) -> tuple[int, int]:
        """`load` without changing the lane, for a reader on another thread."""
        ends, starts = list(self._ends), list(self._starts)  # copies taken whole under the GIL
        queued = sum(1 for start in starts if start > now)
        return sum(1 for end in ends if end > now) - queued, queued

    def _forget_past(self, now: float) -> None:
        ends, starts = self._ends, self._starts
        while ends and ends[0] <= now:
            heapq.heappop(ends)
        while starts and starts[0] <= now:
            heapq.heappop(starts)
