"""The target supervisor of a local run: the reference service restarted when it dies (a few
times at most), its outages and count reported; on a fake clock with a fake service."""

from __future__ import annotations

import asyncio

import pytest

from stresslab.local.faults import AdminClient, AdminUnavailable, ReferenceTargetFaults
from stresslab.local.live_publisher import RunNotes
from stresslab.local.reference_process import ReferenceServiceFailed
from stresslab.local.run_clock import RunClock
from stresslab.local.target_supervisor import TargetSupervisor
from tests.fakes import FakeClock
from tests.run_parts import run_parts


class FakeService:
    """A reference service whose process can be 'killed'; a restart takes 1.5 s."""

    def __init__(self, clock: FakeClock, restart_fails: bool = False) -> None:
        self.clock = clock
        self.score_url = "http://127.0.0.1:1/v1/score"
        self.score_urls = (self.score_url,)
        self.cpu = 55.0
        self.returncode: int | None = None
        self.restart_fails = restart_fails
        self.restarts = 0
        self.stopped = False
        self.rss = [100.0]
        self.count: int | Exception = 42
        self.last_words = ""

    @property
    def admin(self) -> AdminClient:
        return AdminClient("http://127.0.0.1:2", "token")

    @property
    def exited(self) -> bool:
        return self.returncode is not None

    @property
    def pid(self) -> int:
        return 4242

    def faults(self) -> ReferenceTargetFaults:
        return ReferenceTargetFaults(self.admin)

    def rss_mb(self) -> float:
        return self.rss.pop(0) if len(self.rss) > 1 else self.rss[0]

    def cpu_pct(self) -> float | None:
        return self.cpu

    async def restart(self) -> None:
        self.clock.advance(1.5)
        if self.restart_fails:
            raise ReferenceServiceFailed("port 1 still in use")
        self.restarts += 1
        self.returncode = None

    async def received(self, run_id: str) -> int:
        if isinstance(self.count, Exception):
            raise self.count
        return self.count

    async def set_degradation(self, level: str) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True


def supervisor(
    **service: object,
) -> tuple[FakeClock, RunClock, RunNotes, FakeService, TargetSupervisor]:
    fake, clock, _, _, notes = run_parts()
    reference = FakeService(fake, **service)  # type: ignore[arg-type]
    return fake, clock, notes, reference, TargetSupervisor(clock, notes, service=reference)


async def test_a_service_that_dies_is_restarted_and_told_to_the_run() -> None:
    # Given a run on a service that is killed at 3.2 s
    fake, _, _, service, target = supervisor()
    restarted: list[float] = []

    async def on_restarted(back_s: float) -> None:
        restarted.append(back_s)

    fake.advance(3.2)
    service.returncode = -9
    # When the supervisor looks (twice, while the restart is under way)
    target.watch(3.2, on_restarted)
    target.watch(3.3, on_restarted)
    await target.settle()
    # Then it restarts it once, and the run hears when it was back
    assert service.restarts == 1 and restarted == [pytest.approx(4.7)]
    assert [(o.died_s, o.exitcode, o.back_s) for o in target.outages] == [(3.2, -9, 4.7)]
    # And the summary's count is left out, with the outage and its connection errors noted
    received, notes = target.facts(42, lambda first, last: 10 * (last - first + 1))
    assert received is None
    assert notes == [
        "the reference service died (killed by signal 9), noticed at 3.2 s; restarted on the "
        "same port at 4.7 s; 40 connection errors in seconds 2-5",
        "target_received is not known: the reference service's own count died with it; the "
        "restarted service counted 42",
    ]


async def test_which_process_of_several_died_is_told_with_the_outage() -> None:
    # Given a service of several processes, one of which died: the service exited 1, saying so
    fake, _, _, service, target = supervisor()

    async def on_restarted(back_s: float) -> None:
        return None

    fake.advance(2.0)
    service.returncode = 1
    service.last_words = ("stresslab target stopped: process 1 of the service exited (-9); "
                          "its counts are lost")
    # When the supervisor notices and restarts it
    target.watch(2.0, on_restarted)
    await target.settle()
    # Then the note names the process and why the count is gone, and no count is given
    received, notes = target.facts(300, lambda first, last: 0)
    assert received is None
    assert notes[0].startswith(
        "the reference service died (exit 1: process 1 of the service exited (-9); its counts "
        "are lost), noticed at 2 s; restarted")


async def test_restarts_stop_after_the_limit_and_a_failed_one_is_noted() -> None:
    fake, _, _, service, target = supervisor(restart_fails=True)

    async def on_restarted(back_s: float) -> None:
        raise AssertionError("never back")

    for second in range(6):
        service.returncode = 1
        target.watch(float(second), on_restarted)
        await target.settle()
    assert len(target.outages) == 3  # MAX_TARGET_RESTARTS
    _, notes = target.facts(None, lambda first, last: 0)
    assert notes[0] == ("the reference service died (exit 1), noticed at 0 s, and could not "
                        "be restarted: port 1 still in use")


async def test_no_restart_once_the_run_is_over() -> None:
    _, clock, _, service, target = supervisor()
    clock.ended = True
    service.returncode = -9
    target.watch(9.0, lambda _: asyncio.sleep(0))
    await target.settle()
    assert target.outages == [] and service.restarts == 0


async def test_memory_growth_is_measured_after_warm_up_within_one_process() -> None:
    _, _, _, service, target = supervisor()
    service.rss = [50.0] * 5 + [100.0] * 10 + [120.0]
    for second in range(16):
        target.sample(second)
    assert target.memory_growth_pct() == 20.0  # from the 6th sample (100) to the last (120)
    assert target.cpu_at(3) == 55.0 and target.cpu_at(99) is None


async def test_the_cpu_of_several_processes_is_per_process_as_the_threshold_is() -> None:
    # Given a service of two processes using 150% of one core between them
    _, _, _, service, target = supervisor()
    service.score_urls = ("http://127.0.0.1:1/v1/score", "http://127.0.0.1:3/v1/score")
    service.cpu = 150.0
    target.sample(0)
    # Then degradation sees 75% (moderate_cpu_pct is a share of one process's core)
    assert target.cpu_at(0) == 75.0
    assert target.owner_urls == service.score_urls


async def test_the_count_of_a_service_that_does_not_answer_is_a_note() -> None:
    _, _, notes, service, target = supervisor()
    service.count = AdminUnavailable("GET /admin/stats: stalled")
    assert await target.received("r1") is None
    assert notes.items == ["the target's own count could not be read: GET /admin/stats: stalled"]


async def test_only_a_service_started_here_is_stopped_here() -> None:
    fake, clock, _, _, notes = run_parts()
    started = FakeService(fake)

    async def start() -> FakeService:
        return started

    own = TargetSupervisor(clock, notes, start_service=start)
    assert await own.start() == started.score_url
    await own.stop()
    assert started.stopped
    given = FakeService(fake)
    lent = TargetSupervisor(clock, notes, service=given)
    await lent.start()
    await lent.stop()
    assert not given.stopped
    external = TargetSupervisor(clock, notes, target_url="http://127.0.0.1:9/score")
    assert await external.start() == "http://127.0.0.1:9/score"
    assert external.fault_admin() is None and await external.received("r1") is None
