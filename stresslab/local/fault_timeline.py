"""A local run's faults: injected and cleared on the plan's timeline in the background, with
the retries, notes and live events that go with them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from stresslab.local.faults import FaultInjectionFailed
from stresslab.local.live_publisher import LivePublisher, RunNotes
from stresslab.local.run_clock import RunClock
from stresslab.scenario.spec import FaultSpec

CLEAR_WARN_S = 4.0  # a fault not cleared this long after its end is told to the viewers
END_CLEAR_S = 3.0  # at the end, how long to try clearing faults before leaving them to expire
SIDE_WORK_WAIT_S = 8.0  # at the end, how long side work still under way may take


class FaultsUnavailable(RuntimeError):
    """A fault cannot be injected now: no fault API, or the run is not under way."""


class FaultAdmin(Protocol):
    """The target's fault API (local.faults.ReferenceTargetFaults); it raises
    FaultInjectionFailed when it cannot do what it is asked."""

    async def inject(self, fault: FaultSpec, key: str, duration_s: float | None = None) -> str: ...

    async def clear(self, fault_id: str, deadline_s: float | None = None) -> None: ...

    async def clear_all(self, deadline_s: float | None = None) -> None: ...


@dataclass
class FaultWindow:
    spec: FaultSpec
    fault_id: str | None = None
    started_s: float | None = None
    ended_s: float | None = None
    status: str = "pending"

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.spec.type, "label": self.spec.label, "target": self.spec.target,
            "intensity": self.spec.intensity, "planned_start_s": self.spec.at,
            "planned_end_s": self.spec.end, "start_s": self.started_s, "end_s": self.ended_s,
            "status": self.status,
        }


class FaultTimeline:
    """The run's fault windows; the supervisor calls `advance` each tick and never waits for
    the target's answer."""

    def __init__(
        self, run_id: str, planned: list[FaultSpec], clock: RunClock,
        publisher: LivePublisher, notes: RunNotes,
    ) -> None:
        self._run_id = run_id
        self.windows = [FaultWindow(fault) for fault in planned]
        self.admin: FaultAdmin | None = None  # set when the run starts, if the target has one
        self._clock = clock
        self._publisher = publisher
        self._notes = notes
        self._side_work: set[asyncio.Task[None]] = set()

    def active(self, second: int) -> list[str]:
        """The keys of the faults in force during this second."""
        return [
            w.spec.key for w in self.windows
            if w.started_s is not None and w.started_s <= second + 1
            and (w.ended_s is None or w.ended_s > second)
        ]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [w.as_dict() for w in self.windows]

    def _key(self, window: FaultWindow, attempt: str = "") -> str:
        """The idempotency key of one injection: the same on every retry of it."""
        return f"{self._run_id}/{self.windows.index(window)}{attempt}"

    def _side(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._side_work.add(task)
        task.add_done_callback(self._side_work.discard)

    def advance(self, elapsed: float) -> None:
        """Start the injections and clearings that are due by `elapsed`, in the background."""
        admin = self.admin
        for window in list(self.windows):
            if window.status == "pending" and elapsed >= window.spec.at:
                if admin is None:
                    window.status = "skipped: the target has no fault admin API"
                    continue
                window.status = "injecting"
                self._side(self._inject(admin, window, self._key(window)))
            elif window.status == "injected" and elapsed >= window.spec.end:
                window.status = "clearing"
                self._side(self._clear(admin, window))

    async def inject_now(self, fault: FaultSpec) -> dict[str, Any]:
        """Inject a fault at this moment (its `at` is ignored); it joins the run's windows."""
        if not self._clock.under_way:
            raise FaultsUnavailable("the run is not under way")
        if self.admin is None:
            raise FaultsUnavailable("the target has no fault admin API")
        window = FaultWindow(fault.model_copy(update={"at": round(self._clock.elapsed(), 3)}),
                             status="injecting")
        self.windows.append(window)
        await self._inject(self.admin, window, self._key(window))
        if window.status != "injected":
            raise FaultInjectionFailed(window.status)
        return window.as_dict()

    async def _inject(self, admin: FaultAdmin, window: FaultWindow, key: str) -> None:
        window.status = "injecting"
        try:
            window.fault_id = await admin.inject(window.spec, key)
        except FaultInjectionFailed as error:
            window.status = f"failed: {error}"
            self._notes.trouble(f"fault {window.spec.key} could not be injected: {error}")
            return
        window.started_s, window.status = round(self._clock.elapsed(), 3), "injected"
        self._publisher.announce("fault_injected", window.started_s, key=window.spec.key,
                                 **window.as_dict())

    async def _clear(
        self, admin: FaultAdmin | None, window: FaultWindow, patience_s: float | None = None,
    ) -> None:
        """Clear a fault, retrying while it is still in force; every fault also ends on the
        service by its own duration, so one that cannot be cleared is left to expire."""
        elapsed = self._clock.elapsed
        window.status = "clearing"
        began = elapsed()
        started = window.started_s if window.started_s is not None else began
        expires_s = started + window.spec.duration
        if admin is not None and window.fault_id is not None:
            told = False
            while True:
                waited = elapsed() - began
                budget = CLEAR_WARN_S if patience_s is None else patience_s - waited
                try:
                    await admin.clear(window.fault_id, deadline_s=max(budget, 0.5))
                    break
                except FaultInjectionFailed as error:
                    waited = elapsed() - began
                    if not told:
                        told = True
                        self._notes.trouble(f"fault {window.spec.key} could not be cleared for "
                                            f"{waited:.0f} s: {error}")
                    now = elapsed()
                    if now >= expires_s + 1 or (patience_s is not None and waited >= patience_s):
                        window.ended_s = round(min(max(expires_s, began), now), 3)
                        window.status = "expired: it could not be cleared, it ended by its duration"
                        self._publisher.announce("fault_cleared", window.ended_s,
                                                 key=window.spec.key, **window.as_dict())
                        return
        window.ended_s, window.status = round(elapsed(), 3), "cleared"
        self._publisher.announce("fault_cleared", window.ended_s, key=window.spec.key,
                                 **window.as_dict())

    async def finish(self) -> None:
        """At the end: side work finishes (or is given up), every fault is cleared or left to
        expire by its duration, and the target is asked to clear whatever remains."""
        if self._side_work:
            _, late = await asyncio.wait(set(self._side_work), timeout=SIDE_WORK_WAIT_S)
            for task in late:
                task.cancel()
            if late:
                self._notes.add(f"{len(late)} calls to the target's admin API were still "
                                f"unanswered {SIDE_WORK_WAIT_S:g} s after the run and were "
                                "given up")
        for window in self.windows:
            if window.status in ("injected", "clearing"):
                await self._clear(self.admin, window, patience_s=END_CLEAR_S)
            elif window.status == "injecting":
                window.status = "failed: the run ended before the target answered"
        if self.admin is not None:
            try:
                await self.admin.clear_all(deadline_s=END_CLEAR_S)
            except FaultInjectionFailed as error:
                self._notes.add("the target's faults could not be cleared after the run (each "
                                f"ends by its own duration): {error}")

    async def reinject(self, elapsed: float, attempt: int) -> None:
        """A restarted target starts clean: faults still due go back in for what is left."""
        if self.admin is None:
            return
        for window in self.windows:
            remaining = window.spec.end - elapsed
            if window.status != "injected" or remaining <= 0:
                continue
            try:
                window.fault_id = await self.admin.inject(
                    window.spec, self._key(window, f"/r{attempt}"), duration_s=remaining)
            except FaultInjectionFailed as error:
                window.ended_s, window.status = round(elapsed, 3), f"lost with the target: {error}"
