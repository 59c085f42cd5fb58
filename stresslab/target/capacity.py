"""Agent capacity: a lane of parallel slots, a bounded waiting room and a service-time model."""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque

from stresslab.target.config import AgentConfig


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
    """`concurrency` slots and `max_queue` waiting places for one agent.

    A caller first reserves a waiting place (`reserve`, refused when none is left), then
    `occupy`s a slot, waiting in FIFO order when all slots are busy. The slot is given
    back with `release`, usually scheduled for the end of the agent's service time.
    """

    def __init__(self, config: AgentConfig, rng: random.Random) -> None:
        self.concurrency = config.concurrency
        self.max_queue = config.max_queue
        self.service_time = ServiceTime(config.service_time_ms, config.service_time_sigma, rng)
        self.in_flight = 0
        self.queued = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def has_room(self) -> bool:
        return self.in_flight + self.queued < self.concurrency + self.max_queue

    def reserve(self) -> None:
        """Take a waiting place; `occupy` or `cancel_reservation` must follow."""
        self.queued += 1

    def cancel_reservation(self) -> None:
        self.queued -= 1

    async def occupy(self) -> None:
        """Trade the reservation for a slot, waiting for one if all are busy."""
        if self.in_flight < self.concurrency and not self._waiters:
            self.queued -= 1
            self.in_flight += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn  # `release` hands its slot straight to us: in_flight is unchanged
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()
            else:
                self._waiters.remove(turn)
            raise
        finally:
            self.queued -= 1

    def release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.in_flight -= 1
