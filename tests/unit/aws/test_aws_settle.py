"""Evaluate waits on the data (every planned worker's batches merged), bounded, not on a
fixed time; when its own time runs out first the state machine retries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stresslab.aws.evaluation import (
    MetricsNotSettled,
    settle_deadline,
    unsettled_workers,
    wait_until_settled,
)
from stresslab.aws.second_items import WorkerRecord
from stresslab.generation.plan import plan_run
from stresslab.scenario.spec import parse_scenario

ASL = Path(__file__).resolve().parents[3] / "step_functions" / "run_scenario.asl.json"
PLAN = plan_run(parse_scenario({"name": "x", "workers": 2, "phases": [
    {"shape": "constant", "tps": 10, "duration": "5s"}]}, "s"), "r1")
DONE = WorkerRecord("w0-s0", 5, 4, 4)


class Store:
    """Workers as merged so far; the second worker's batches land after `late_polls` reads."""

    def __init__(self, late_polls: int) -> None:
        self.polls = 0
        self.late_polls = late_polls

    def workers(self, run_id: str) -> dict[str, WorkerRecord]:
        self.polls += 1
        found = {"w0-s0": DONE}
        if self.polls > self.late_polls:
            found["w0-s1"] = WorkerRecord("w0-s1", 5, 4, 4)
        return found


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_planned_worker_that_has_not_reported_yet_is_waited_for() -> None:
    # Given every worker that reported is complete, but a planned one has not reported yet
    store, clock = Store(late_polls=3), Clock()

    # When Evaluate waits (the deadline is far)
    workers = wait_until_settled(store, "r1", PLAN, deadline=1_000.0, give_up_at=500.0,
                                 clock=lambda: clock.now, sleep=clock.sleep, poll_s=2.0)

    # Then it waited until that worker's batches were merged, and no longer
    assert set(workers) == {"w0-s0", "w0-s1"} and store.polls == 4 and clock.now == 106.0


def test_at_the_deadline_what_is_missing_is_judged_missing() -> None:
    store, clock = Store(late_polls=10_000), Clock()
    workers = wait_until_settled(store, "r1", PLAN, deadline=110.0, give_up_at=500.0,
                                 clock=lambda: clock.now, sleep=clock.sleep, poll_s=2.0)
    assert set(workers) == {"w0-s0"} and clock.now == 110.0
    assert unsettled_workers(PLAN, workers) == ["w0-s1"]


def test_when_the_invocation_runs_out_first_the_state_machine_is_asked_to_retry() -> None:
    store, clock = Store(late_polls=10_000), Clock()
    with pytest.raises(MetricsNotSettled, match="1 workers not fully merged yet .first w0-s1"):
        wait_until_settled(store, "r1", PLAN, deadline=1_000.0, give_up_at=120.0,
                           clock=lambda: clock.now, sleep=clock.sleep, poll_s=2.0)


def test_a_stopped_run_waits_only_for_the_workers_that_reported() -> None:
    assert unsettled_workers(PLAN, {"w0-s0": DONE}, stopped=True) == []
    partial = {"w0-s0": WorkerRecord("w0-s0", 2, None, None)}
    assert unsettled_workers(PLAN, partial, stopped=True) == ["w0-s0"]


def test_the_deadline_is_the_planned_end_plus_the_settle_bound() -> None:
    assert settle_deadline({"run_started_at": 1_000.0}, PLAN, 60.0) == 1_065.0


def test_the_state_machine_retries_evaluate_while_metrics_are_not_settled() -> None:
    evaluate = json.loads(ASL.read_text())["States"]["Evaluate"]
    retries = [r for r in evaluate["Retry"] if "MetricsNotSettled" in r["ErrorEquals"]]
    assert len(retries) == 1 and retries[0]["MaxAttempts"] >= 2
