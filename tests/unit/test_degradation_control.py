"""The degradation controller of a local run: each closed second fed to the tracker once and
in order, changes shown live, levels sent to the target in order and set back to NONE."""

from __future__ import annotations

import asyncio

from stresslab.judgement.degradation import DegradationTracker, SecondHealth
from stresslab.local.degradation_control import DegradationController
from stresslab.local.faults import AdminUnavailable
from stresslab.local.live_publisher import RunNotes
from stresslab.local.run_clock import RunClock
from tests.run_parts import SPEC, Recorder, run_parts

BAD = SecondHealth(error_rate=0.5)
GOOD = SecondHealth(error_rate=0.0)


class FakeLevelTarget:
    def __init__(self, failures: int = 0) -> None:
        self.levels: list[str] = []
        self.failures = failures
        self.exited = False

    async def set_degradation(self, level: str) -> None:
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise AdminUnavailable("POST /admin/degradation: refused")
        self.levels.append(level)


def controller(
    apply: bool = True, failures: int = 0
) -> tuple[RunClock, Recorder, RunNotes, FakeLevelTarget, DegradationController]:
    _, clock, recorder, publisher, notes = run_parts()
    policy = SPEC.degradation.model_copy(update={"apply": apply, "recover_after_s": 2})
    control = DegradationController(DegradationTracker(policy), 10, clock, publisher, notes)
    target = FakeLevelTarget(failures)
    control.target = target
    return clock, recorder, notes, target, control


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def always_closed(second: int, elapsed: float) -> bool:
    return elapsed >= second + 1


async def test_closed_seconds_are_judged_in_order_and_each_change_is_sent_and_shown() -> None:
    # Given errors in seconds 1 and 2, then good seconds
    clock, recorder, notes, target, control = controller()
    health = {1: BAD, 2: BAD}
    # When 2.5 s have passed, then 6.5 s
    control.track(2.5, lambda s: health.get(s, GOOD), always_closed)
    await settle()
    # Then seconds 0 and 1 are judged (2 is not closed yet) and CRITICAL went to the target
    assert [control.level_at(s) for s in range(3)] == ["NONE", "CRITICAL", None]
    assert target.levels == ["CRITICAL"]
    control.track(6.5, lambda s: health.get(s, GOOD), always_closed)
    await settle()
    assert control.level_at(4) == "NONE" and target.levels == ["CRITICAL", "NONE"]
    shown = recorder.events("degradation_changed")
    assert [e["detail"]["level"] for e in shown] == ["CRITICAL", "NONE"]
    assert all(e["detail"]["applied"] for e in shown)
    changes, change_notes = control.facts()
    assert [c["level"] for c in changes] == ["CRITICAL", "NONE"] and change_notes == []
    assert notes.items == []


async def test_levels_are_only_shown_when_the_scenario_does_not_apply_them() -> None:
    _, recorder, _, target, control = controller(apply=False)
    control.track(3.0, lambda s: BAD, always_closed)
    await control.settle()
    assert target.levels == []
    assert recorder.events("degradation_changed")[0]["detail"]["applied"] is False


async def test_a_level_the_target_did_not_take_is_told_once_and_counted() -> None:
    clock, recorder, _, target, control = controller(failures=1)
    control.track(2.0, lambda s: BAD, always_closed)
    await settle()
    assert target.levels == []
    assert [e["detail"]["message"] for e in recorder.events("run_note")] == [
        "degradation level CRITICAL could not be sent to the target: POST /admin/degradation: "
        "refused"]
    # At the end the level it holds is NONE already, so nothing more is sent
    clock.ended = True
    await control.settle()
    assert target.levels == []
    _, notes = control.facts()
    assert notes == ["1 degradation level change(s) could not be sent to the target (last: "
                     "POST /admin/degradation: refused)"]


async def test_at_the_end_the_target_goes_back_to_none_and_a_restart_gets_the_level() -> None:
    clock, _, _, target, control = controller()
    control.track(2.0, lambda s: BAD, always_closed)
    await settle()
    control.target_restarted()  # a new process holds NONE: the level goes again
    await settle()
    assert target.levels == ["CRITICAL", "CRITICAL"]
    clock.ended = True
    await control.settle()
    assert target.levels == ["CRITICAL", "CRITICAL", "NONE"]


async def test_once_the_run_is_over_every_planned_second_is_judged() -> None:
    _, _, _, _, control = controller()
    control.track(None, lambda s: GOOD, lambda second, elapsed: False)
    assert [control.level_at(s) for s in range(10)] == ["NONE"] * 10
    assert control.level_at(10) is None
