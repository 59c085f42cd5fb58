"""The fault timeline of a local run: injected and cleared on time in the background, retried,
noted and told live; on a fake clock with a fake fault API."""

from __future__ import annotations

import asyncio

import pytest

from stresslab.local.fault_timeline import FaultsUnavailable, FaultTimeline
from stresslab.local.faults import AdminRefused, AdminUnavailable, FaultInjectionFailed
from stresslab.local.live_publisher import RunNotes
from stresslab.scenario.spec import FaultSpec
from tests.fakes import FakeClock
from tests.run_parts import SPEC, Recorder, run_parts


class FakeFaultAdmin:
    """Records calls; a clear that fails takes its whole deadline on the fake clock first."""

    def __init__(self, clock: FakeClock, refuse: set[str] | None = None,
                 failed_clears: int = 0, clear_all_fails: bool = False) -> None:
        self.clock = clock
        self.refuse = refuse or set()
        self.failed_clears = failed_clears
        self.clear_all_fails = clear_all_fails
        self.injected: list[tuple[str, str, float | None]] = []
        self.cleared: list[str] = []
        self.cleared_all = 0

    async def inject(self, fault: FaultSpec, key: str, duration_s: float | None = None) -> str:
        self.injected.append((fault.key, key, duration_s))
        if fault.key in self.refuse:
            raise AdminRefused("POST /admin/faults: 400 unknown agent", 400)
        return f"id{len(self.injected)}"

    async def clear(self, fault_id: str, deadline_s: float | None = None) -> None:
        if self.failed_clears:
            self.failed_clears -= 1
            self.clock.advance(deadline_s or 0.0)
            raise AdminUnavailable("DELETE /admin/faults: stalled")
        self.cleared.append(fault_id)

    async def clear_all(self, deadline_s: float | None = None) -> None:
        self.cleared_all += 1
        if self.clear_all_fails:
            raise AdminUnavailable("DELETE /admin/faults: refused")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def timeline(
    **admin: object,
) -> tuple[FakeClock, FaultTimeline, FakeFaultAdmin, Recorder, RunNotes]:
    fake, clock, recorder, publisher, notes = run_parts()
    faults = FaultTimeline("r1", SPEC.faults, clock, publisher, notes)
    fake_admin = FakeFaultAdmin(fake, **admin)  # type: ignore[arg-type]
    faults.admin = fake_admin
    return fake, faults, fake_admin, recorder, notes


async def test_faults_go_in_and_come_out_on_the_plan_and_are_told_live() -> None:
    # Given a run with a fault planned from 1 s to 3 s
    fake, faults, admin, recorder, notes = timeline()
    first = SPEC.faults[0].key
    # When the clock passes its start
    faults.advance(0.5)
    await settle()
    assert admin.injected == []
    fake.advance(1.2)
    faults.advance(1.2)
    await settle()
    # Then it is injected once, with the run's idempotency key, and shown from 1.2 s
    assert admin.injected == [(first, "r1/0", None)]
    assert faults.windows[0].status == "injected" and faults.windows[0].started_s == 1.2
    assert faults.active(0) == [] and faults.active(1) == [first]
    assert [e["detail"]["key"] for e in recorder.events("fault_injected")] == [first]
    # And when its end passes it is cleared and no longer active afterwards
    fake.advance(2.0)
    faults.advance(3.2)
    await settle()
    assert admin.cleared == ["id1"] and faults.windows[0].status == "cleared"
    assert faults.windows[0].ended_s == 3.2 and faults.active(4) == []
    assert recorder.events("fault_cleared")[0]["at_s"] == 3.2
    assert notes.items == []


async def test_a_target_without_a_fault_api_skips_the_faults() -> None:
    fake, faults, _, recorder, _ = timeline()
    faults.admin = None
    faults.advance(10)
    await settle()
    assert {w.status for w in faults.windows} == {"skipped: the target has no fault admin API"}
    assert recorder.events() == []


async def test_a_refused_injection_is_a_failed_window_a_note_and_a_live_note() -> None:
    first = SPEC.faults[0].key
    fake, faults, _, recorder, notes = timeline(refuse={first})
    faults.advance(1.0)
    await settle()
    assert faults.windows[0].status == "failed: POST /admin/faults: 400 unknown agent"
    assert notes.items == [f"fault {first} could not be injected: POST /admin/faults: 400 "
                           "unknown agent"]
    assert [e["detail"]["message"] for e in recorder.events("run_note")] == notes.items


async def test_a_fault_that_cannot_be_cleared_is_told_once_and_left_to_expire() -> None:
    # Given a fault whose clear stalls every time (each try takes its deadline)
    fake, faults, admin, recorder, notes = timeline(failed_clears=100)
    fake.advance(1.0)
    faults.advance(1.0)
    await settle()
    fake.advance(2.0)
    # When its end passes
    faults.advance(3.0)
    await settle()
    # Then the trouble is noted once, and the window ends by its own duration
    window = faults.windows[0]
    assert window.status == "expired: it could not be cleared, it ended by its duration"
    assert window.ended_s == 3.0  # started at 1 s, lasts 2 s
    assert len(notes.items) == 1 and "could not be cleared for 4 s" in notes.items[0]
    assert len(recorder.events("run_note")) == 1
    assert recorder.events("fault_cleared")[0]["detail"]["status"].startswith("expired")


async def test_at_the_end_faults_in_force_are_cleared_and_the_rest_marked() -> None:
    fake, faults, admin, _, notes = timeline(clear_all_fails=True)
    fake.advance(1.0)
    faults.advance(1.0)
    await settle()
    faults.windows[1].status = "injecting"  # its answer never came
    await faults.finish()
    assert admin.cleared == ["id1"] and faults.windows[0].status == "cleared"
    assert faults.windows[1].status == "failed: the run ended before the target answered"
    assert admin.cleared_all == 1
    assert notes.items == ["the target's faults could not be cleared after the run (each ends "
                           "by its own duration): DELETE /admin/faults: refused"]


async def test_a_restarted_target_gets_the_faults_still_due_for_what_is_left() -> None:
    fake, faults, admin, _, _ = timeline()
    fake.advance(1.0)
    faults.advance(1.0)
    await settle()
    await faults.reinject(2.5, attempt=1)
    assert admin.injected[-1] == (SPEC.faults[0].key, "r1/0/r1", 0.5)
    await faults.reinject(3.5, attempt=2)  # past its end: nothing to put back
    assert len(admin.injected) == 2


async def test_a_fault_injected_now_joins_the_timeline_while_the_run_is_under_way() -> None:
    fake, faults, admin, recorder, _ = timeline()
    fault = FaultSpec(type="latency", target="geo", at=0, duration=5, label="now")
    fake.advance(2.5)
    answer = await faults.inject_now(fault)
    assert answer["planned_start_s"] == 2.5 and answer["status"] == "injected"
    assert admin.injected == [(fault.key, "r1/2", None)]
    faults.admin = None
    with pytest.raises(FaultsUnavailable, match="no fault admin API"):
        await faults.inject_now(fault)


async def test_no_fault_is_injected_before_the_start_or_after_the_end() -> None:
    _, clock, _, publisher, notes = run_parts(started=False)
    faults = FaultTimeline("r1", [], clock, publisher, notes)
    fault = FaultSpec(type="latency", at=0, duration=5)
    with pytest.raises(FaultsUnavailable, match="not under way"):
        await faults.inject_now(fault)
    clock.started, clock.ended = 100.0, True
    with pytest.raises(FaultsUnavailable, match="not under way"):
        await faults.inject_now(fault)


async def test_a_refused_injection_now_is_an_error_for_the_caller() -> None:
    fake, faults, admin, _, _ = timeline(refuse={"latency:geo"})
    fault = FaultSpec(type="latency", target="geo", at=0, duration=5)
    admin.refuse = {fault.key}
    with pytest.raises(FaultInjectionFailed, match="400 unknown agent"):
        await faults.inject_now(fault)
