"""Cleanup and evaluation logic with in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from stresslab.aws.cleanup import cleanup_run, final_status
from stresslab.aws.evaluation import failed_workers, saturated_seconds
from stresslab.aws.second_items import StoredWindow, WorkerRecord
from stresslab.aws.store import RunNotFound
from stresslab.generation.plan import plan_run
from stresslab.measurement.metrics import MetricsBatch, WorkerHealth
from stresslab.scenario.spec import parse_scenario


class Faults:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop_run(self, run_id: str) -> list[str]:
        self.stopped.append(run_id)
        return ["EXP1"]


class Statuses:
    def __init__(self, known: bool = True) -> None:
        self.known = known
        self.finished: list[tuple[str, str, dict[str, Any] | None]] = []

    def finish_run(self, run_id: str, status: str, ended_at: str, summary: Any = None,
                   error: dict[str, Any] | None = None, only_if_running: bool = False) -> bool:
        if not self.known:
            raise RunNotFound(run_id)
        self.finished.append((run_id, status, error))
        return True


class Switch:
    def __init__(self, value: str = "off") -> None:
        self.value = value

    def stops(self, run_id: str) -> bool:
        return self.value in (run_id, "all")


@pytest.mark.parametrize(("error", "execution", "stopped", "status"), [
    ("RunStopped", None, False, "aborted"),
    ("States.ExceedToleratedFailureThreshold", None, True, "aborted"),
    ("", "ABORTED", False, "aborted"),
    ("", "TIMED_OUT", False, "timed_out"),
    ("States.TaskFailed", None, False, "failed"),
])
def test_final_status(error: str, execution: str | None, stopped: bool, status: str) -> None:
    assert final_status(error, execution, stopped) == status


def test_cleanup_stops_experiments_and_records_why() -> None:
    faults, statuses = Faults(), Statuses()

    cleaned = cleanup_run("r1", faults, statuses, Switch(), error="States.TaskFailed",
                          cause="evaluate crashed", now=lambda: 0.0)

    assert faults.stopped == ["r1"] and cleaned.experiments_stopped == ["EXP1"]
    assert statuses.finished == [("r1", "failed", {"error": "States.TaskFailed",
                                                   "cause": "evaluate crashed"})]
    assert (cleaned.error, cleaned.cause) == ("RunFailed", "States.TaskFailed: evaluate crashed")


def test_cleanup_of_a_stopped_run_and_of_one_never_planned() -> None:
    stopped = cleanup_run("r1", Faults(), Statuses(), Switch("r1"),
                          error="States.ExceedToleratedFailureThreshold", cause="2 of 2")
    unknown = cleanup_run("r2", Faults(), Statuses(known=False), Switch(), error="Boom")

    assert (stopped.status, stopped.error) == ("aborted", "RunStopped")
    assert unknown.recorded is False and unknown.error == "Boom"


def test_a_shard_counts_as_done_when_any_attempt_completed() -> None:
    plan = plan_run(parse_scenario({"name": "x", "workers": 3, "phases": [
        {"shape": "constant", "tps": 10, "duration": "5s"}]}, "s"), "r1")
    workers = {
        "w0-s0": WorkerRecord("w0-s0", 5, 4, 4),
        "w0-s1": WorkerRecord("w0-s1", 2, None, None),
        "w0-s1-r1": WorkerRecord("w0-s1-r1", 5, 4, 4),
    }
    assert failed_workers(plan, workers) == ["w0-s2"]


def test_saturated_seconds_name_the_reason() -> None:
    def second(cpu: float, fds: int) -> StoredWindow:
        batch = MetricsBatch(run_id="r", worker_id="merged", seq=0, window=0,
                             health=WorkerHealth(cpu_pct=cpu, open_fds=fds))
        return StoredWindow(batch, 1, 1)

    found = saturated_seconds({0: second(40, 100), 1: second(99, 100), 2: second(50, 1000)})
    assert found == [(1, "generator CPU at 99%"),
                     (2, "generator holds 1000 of 1024 file descriptors")]
