"""Agent capacity: a lane of parallel slots, a bounded waiting room and a service-time model."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from typing import TypeVar

from stresslab.target.config import AgentConfig

T = TypeVar("T")


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
    """Admits a call only if a slot or a waiting place is free; callers reserve, then run."""

    def __init__(self, config: AgentConfig, rng: random.Random) -> None:
        self.concurrency = config.concurrency
        self.max_queue = config.max_queue
        self.service_time = ServiceTime(config.service_time_ms, config.service_time_sigma, rng)
        self.in_flight = 0
        self.queued = 0
        self._slots = asyncio.Semaphore(config.concurrency)

    def has_room(self) -> bool:
        return self.in_flight + self.queued < self.concurrency + self.max_queue

    def reserve(self) -> None:
        """Take a waiting place; `run` or `release_reservation` must follow."""
        self.queued += 1

    def release_reservation(self) -> None:
        self.queued -= 1

    async def run(self, work: Callable[[], T], added_s: float = 0.0) -> T:
        """Wait for a slot, spend the service time (plus `added_s`) in it, then do `work`."""
        try:
            await self._slots.acquire()
        finally:
            self.queued -= 1
        self.in_flight += 1
        try:
            delay = self.service_time.sample() + added_s
            if delay > 0:
                await asyncio.sleep(delay)
            return work()
        finally:
            self.in_flight -= 1
            self._slots.release()
