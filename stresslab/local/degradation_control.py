"""A local run's degradation level: tracked from each closed second, shown live, and (when the
scenario says so) sent to the reference service in the background, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from stresslab.judgement.degradation import DegradationTracker, Level, LevelChange, SecondHealth
from stresslab.local.faults import FaultInjectionFailed
from stresslab.local.live_publisher import LivePublisher, RunNotes
from stresslab.local.run_clock import RunClock


class LevelTarget(Protocol):
    """A target that takes degradation levels (local.reference_process.ReferenceService)."""

    @property
    def exited(self) -> bool: ...

    async def set_degradation(self, level: str) -> None: ...


class DegradationController:
    """Feeds the tracker one closed second at a time and keeps the target on its level."""

    def __init__(
        self, tracker: DegradationTracker, planned_s: int, clock: RunClock,
        publisher: LivePublisher, notes: RunNotes,
    ) -> None:
        self._planned_s = planned_s
        self._clock = clock
        self._publisher = publisher
        self._notes = notes
        self.tracker = tracker
        self.target: LevelTarget | None = None  # set when the run starts on the reference service
        self._levels: dict[int, Level] = {}
        self._next_second = 0
        self._applied: Level = "NONE"
        self._lock = asyncio.Lock()
        self._pushes: set[asyncio.Task[None]] = set()
        self._failures = 0
        self._last_error = ""

    @property
    def applies(self) -> bool:
        """Levels are sent to the target, not only shown."""
        return self.tracker.policy.apply and self.target is not None

    def level_at(self, second: int) -> Level | None:
        return self._levels.get(second)

    def track(
        self, elapsed: float | None, health: Callable[[int], SecondHealth],
        closed: Callable[[int, float], bool],
    ) -> None:
        """Feed each closed second of the plan to the tracker; elapsed None: the run is over."""
        while self._next_second < self._planned_s:
            second = self._next_second
            if elapsed is not None and not closed(second, elapsed):
                return
            seen = len(self.tracker.changes)
            self._levels[second] = self.tracker.observe(second, health(second))
            self._next_second += 1
            for change in self.tracker.changes[seen:]:
                self._changed(change)

    def _changed(self, change: LevelChange) -> None:
        self._publisher.degradation_changed(change, self.applies)
        if not self._clock.ended:
            self._request()

    def target_restarted(self) -> None:
        """A new process starts at NONE: send it the current level."""
        self._applied = "NONE"
        self._request()

    def _request(self) -> None:
        """Tell the target the current level, in the background and in order."""
        if not self.applies or self.target is None:
            return
        task = asyncio.create_task(self._push(self.target))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _push(self, target: LevelTarget) -> None:
        async with self._lock:  # each push sends the level as it is by then
            level: Level = "NONE" if self._clock.ended else self.tracker.level
            if level == self._applied or target.exited:
                return
            try:
                await target.set_degradation(level)
                self._applied = level
            except FaultInjectionFailed as error:
                self._failures += 1
                self._last_error = str(error)
                if self._failures == 1:  # the summary counts them all
                    self._publisher.announce_now("run_note", message=(
                        f"degradation level {level} could not be sent to the target: {error}"))

    async def settle(self) -> None:
        """At the end: pushes under way finish, and the target goes back to NONE."""
        if self._pushes:
            await asyncio.gather(*self._pushes, return_exceptions=True)
        target = self.target
        if target is not None and not target.exited and self._applied != "NONE":
            try:
                await target.set_degradation("NONE")
                self._applied = "NONE"
            except FaultInjectionFailed as error:
                self._notes.add(f"the target could not be set back to degradation level NONE "
                                f"after the run: {error}")

    def facts(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The level changes for the summary, and a note if some never reached the target."""
        applied = self.applies
        changes = [{**c.as_dict(), "applied": applied} for c in self.tracker.changes]
        notes = []
        if self._failures:
            notes.append(f"{self._failures} degradation level change(s) could not be sent to "
                         f"the target (last: {self._last_error})")
        return changes, notes
