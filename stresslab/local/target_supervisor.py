"""The system under test of a local run: the bundled reference service, started, watched and
restarted for the run, or an external target that is only checked; its own request count."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from stresslab.local.faults import AdminClient, FaultInjectionFailed, ReferenceTargetFaults
from stresslab.local.live_publisher import RunNotes
from stresslab.local.reference_process import ReferenceService, ReferenceServiceFailed
from stresslab.local.run_clock import RunClock
from stresslab.targets.http import check_reachable

MAX_TARGET_RESTARTS = 3


class SupervisedService(Protocol):
    """What the supervisor needs of the reference service (local.reference_process)."""

    score_url: str
    score_urls: tuple[str, ...]  # one per process; a card's owner is owner_of(card, len)
    last_words: str  # its last line of output: a service of several processes says why it ended

    @property
    def admin(self) -> AdminClient: ...

    @property
    def exited(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def pid(self) -> int: ...

    def faults(self) -> ReferenceTargetFaults: ...

    def rss_mb(self) -> float: ...

    def cpu_pct(self) -> float | None: ...

    async def restart(self) -> None: ...

    async def received(self, run_id: str) -> int: ...

    async def set_degradation(self, level: str) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Outage:
    """The reference service died during the run; back_s is None if it could not be restarted."""

    died_s: float
    exitcode: int | None
    back_s: float | None = None
    error: str | None = None
    cause: str = ""  # e.g. which of its processes died first


class TargetSupervisor:
    """Where the run sends, and the life of the reference service when it is ours to run.

    An external target (`target_url`) is only checked for reachability: nothing here can see
    or restart it. A reference service started here is stopped at the end; one given to the
    run (`service`) is watched but left running.
    """

    def __init__(
        self, clock: RunClock, notes: RunNotes, target_url: str | None = None,
        service: SupervisedService | None = None,
        start_service: Callable[[], Awaitable[SupervisedService]] = ReferenceService.start,
        max_restarts: int = MAX_TARGET_RESTARTS,
    ) -> None:
        self._clock = clock
        self._notes = notes
        self._target_url = target_url
        self.service = service
        self._start_service = start_service
        self._owned = False
        self._max_restarts = max_restarts
        self.outages: list[Outage] = []
        self._reviving: asyncio.Task[None] | None = None
        self._rss: list[float] = []
        self._cpu: dict[int, float | None] = {}

    async def start(self) -> str:
        """The URL to score at; the reference service is started here unless a target is given."""
        if self.service is not None:
            return self.service.score_url
        if self._target_url is not None:
            return self._target_url
        self.service = await self._start_service()
        self._owned = True
        return self.service.score_url

    @property
    def owner_urls(self) -> tuple[str, ...]:
        """The reference service's process URLs, to send each card to its owner (a restart
        keeps the same ports); empty for an external target."""
        return self.service.score_urls if self.service is not None else ()

    async def check(self, url: str) -> None:
        await check_reachable(url)

    async def stop(self) -> None:
        if self.service is not None and self._owned:
            await self.service.stop()

    def fault_admin(self) -> ReferenceTargetFaults | None:
        return self.service.faults() if self.service is not None else None

    def watch(self, elapsed: float, on_restarted: Callable[[float], Awaitable[None]]) -> None:
        """A reference service that has exited mid-run is started again (a few times at most);
        `on_restarted(back_s)` puts back what the new process lacks."""
        service = self.service
        if service is None or not service.exited or self._clock.ended:
            return
        if self._reviving is not None and not self._reviving.done():
            return
        if len(self.outages) >= self._max_restarts:
            return
        self._reviving = asyncio.create_task(self._revive(service, elapsed, on_restarted))

    async def _revive(
        self, service: SupervisedService, noticed_s: float,
        on_restarted: Callable[[float], Awaitable[None]],
    ) -> None:
        cause = service.last_words.removeprefix("stresslab target stopped: ")
        said = cause != service.last_words  # only a line the service wrote on its way out
        outage = Outage(died_s=round(noticed_s, 3), exitcode=service.returncode,
                        cause=cause if said else "")
        self.outages.append(outage)
        try:
            await service.restart()
        except (ReferenceServiceFailed, OSError) as error:
            outage.error = str(error) or type(error).__name__
            return
        back = self._clock.elapsed()
        outage.back_s = round(back, 3)
        self._rss = []  # memory growth means something within one process only
        await on_restarted(back)

    async def settle(self) -> None:
        """At the end: a restart under way finishes."""
        if self._reviving is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reviving

    def sample(self, second: int) -> None:
        """Once a second: the target's memory (for growth) and CPU per process (for
        degradation)."""
        service = self.service
        if service is None or service.exited:
            return
        self._rss.append(service.rss_mb())
        cpu = service.cpu_pct()
        # per process: moderate_cpu_pct is a share of one core, and a service of N processes
        # at half load each would otherwise read as one process over its limit
        processes = max(1, len(service.score_urls))
        self._cpu[second] = None if cpu is None else cpu / processes

    def cpu_at(self, second: int) -> float | None:
        return self._cpu.get(second)

    def memory_growth_pct(self) -> float | None:
        samples = self._rss
        warm = max(5, len(samples) // 10)
        if len(samples) <= warm + 1 or samples[warm] <= 0:
            return None
        return (samples[-1] - samples[warm]) / samples[warm] * 100

    async def received(self, run_id: str) -> int | None:
        """The target's own count of the run's requests, if it keeps one and answers."""
        service = self.service
        if service is None or service.exited:
            return None
        try:
            return await service.received(run_id)
        except FaultInjectionFailed as error:
            self._notes.add(f"the target's own count could not be read: {error}")
            return None

    def facts(
        self, received: int | None, connect_errors: Callable[[int, int], int]
    ) -> tuple[int | None, list[str]]:
        """The target's own count, unless a restart lost part of it; notes on each outage.

        A killed service takes its count with it, and polling it would only give a lower
        bound, so after an outage target_received is left out (null) rather than guessed.
        `connect_errors(first, last)`: the run's connection errors in those seconds.
        """
        notes = [self._outage_note(outage, connect_errors) for outage in self.outages]
        if not self.outages:
            return received, notes
        counted = "" if received is None else f"; the restarted service counted {received}"
        notes.append("target_received is not known: the reference service's own count died "
                     f"with it{counted}")
        return None, notes

    @staticmethod
    def _outage_note(outage: Outage, connect_errors: Callable[[int, int], int]) -> str:
        code = outage.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        if outage.cause:
            how += f": {outage.cause}"
        note = f"the reference service died ({how}), noticed at {outage.died_s:g} s"
        if outage.back_s is None:
            return note + f", and could not be restarted: {outage.error}"
        first = max(math.floor(outage.died_s) - 1, 0)
        last = math.floor(outage.back_s) + 1
        return (note + f"; restarted on the same port at {outage.back_s:g} s; "
                f"{connect_errors(first, last)} connection errors in seconds {first}-{last}")
