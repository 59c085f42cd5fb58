"""Stop under moto: per-run stop flags in the run table, and Stop on the control API ending the
run that is running (the execution and every worker), executed by moto's interpreter."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.store import DynamoRunStore

from .test_control_api import request
from .test_state_machine import Machine, StreamPump, machine, scenario  # noqa: F401 - fixture
from .world import TABLE, ScoreServer, World


class WriteOnly:
    """A DynamoDB client whose reads are throttled: Stop must still get through."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        if name in ("get_item", "batch_get_item", "query", "get_parameter"):
            self.reads += 1
            raise RuntimeError(f"{name}: ThrottlingException")
        return getattr(self._client, name)


def test_trip_writes_the_flag_without_reading_first(aws: World) -> None:
    throttled = WriteOnly(aws.client("dynamodb"))

    StopFlags(throttled, TABLE).trip("r1", by="ana")

    assert throttled.reads == 0
    assert StopFlags(aws.client("dynamodb"), TABLE).stops("r1")


def test_each_run_has_its_own_flag_and_all_stops_every_run(aws: World) -> None:
    flags = StopFlags(aws.client("dynamodb"), TABLE)

    flags.trip("run-a", by="ana")
    flags.trip("run-b", by="ben")  # stopping B must not un-stop A
    assert flags.stops("run-a") and flags.stops("run-b") and not flags.stops("run-c")

    flags.trip_all(by="ops")
    assert flags.stops("run-c")
    flags.clear_all()
    assert not flags.stops("run-c") and flags.stops("run-a")


def test_stop_of_an_unknown_run_is_404_and_of_current_with_nothing_running_409(
    machine: Machine,  # noqa: F811 - fixture
) -> None:
    unknown = request("POST", "/runs/nope-1/stop")
    nothing = request("POST", "/runs/current/stop")

    assert unknown["status"] == 404 and unknown["body"]["error"] == "run nope-1 not found"
    assert nothing["status"] == 409 and nothing["body"]["error"] == "no run in progress"
    assert not StopFlags(machine.world.client("dynamodb"), TABLE).stops("current")


def test_stop_current_ends_the_running_run_and_every_worker(
    machine: Machine, score_server: ScoreServer,  # noqa: F811 - fixture
) -> None:
    # Given a 30-second run with two workers, under way
    arn = machine.start("current-1", {"scenario": scenario(30), "target_url": score_server.url})
    with StreamPump(machine.world):
        _wait_for(lambda: score_server.received > 20)

        # When an operator presses Stop, which posts /runs/current/stop
        stopped_at = time.monotonic()
        stopped = request("POST", "/runs/current/stop")
        done = machine.wait(arn)
        _wait_for(lambda: len(_generator_outcomes(machine)) == 2, timeout=15)
        workers_ended_s = time.monotonic() - stopped_at
        received = score_server.received
        time.sleep(1.0)

    # Then "current" meant that run: its execution ended and both workers stopped on the flag
    assert stopped["status"] == 200, stopped
    assert stopped["body"]["run_id"] == "current-1" and stopped["body"]["execution_stopped"]
    assert stopped["body"]["status"] == "aborted"
    assert done["status"] in ("ABORTED", "FAILED")  # moto: FAILED, see sfn_harness
    assert all(o.startswith("RunStopped") for o in _generator_outcomes(machine))
    assert score_server.received == received < 30 * 30
    run = DynamoRunStore(machine.world.client("dynamodb"), TABLE).get_run("current-1")
    assert run["status"] == "aborted"
    print(f"stop -> every worker ended: {workers_ended_s:.1f}s")

    # And a second Stop of the same run says it has already ended
    again = request("POST", "/runs/current-1/stop")
    assert again["status"] == 409 and "already ended" in again["body"]["error"]


def test_kill_switch_route_stops_every_run_until_cleared(
    machine: Machine, score_server: ScoreServer,  # noqa: F811 - fixture
) -> None:
    arn = machine.start("all-1", {"scenario": scenario(30), "target_url": score_server.url})
    with StreamPump(machine.world):
        _wait_for(lambda: score_server.received > 10)

        tripped = request("POST", "/kill-switch")
        machine.wait(arn)
        _wait_for(lambda: len(_generator_outcomes(machine)) == 2, timeout=15)

    flags = StopFlags(machine.world.client("dynamodb"), TABLE)
    assert tripped["status"] == 200 and tripped["body"]["runs_stopped"] == ["all-1"]
    assert flags.stops("a-run-not-yet-started")
    assert request("DELETE", "/kill-switch")["body"] == {"kill_switch": "off"}
    assert not flags.stops("a-run-not-yet-started")


def _generator_outcomes(running: Machine) -> list[str]:
    return [c[2] for c in running.lambdas.calls if c[0] == "load-generator"]


def _wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)



def test_stop_answers_even_when_the_flags_cannot_be_read_back(
    machine: Machine, score_server: ScoreServer,  # noqa: F811 - fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a running run, and reads of the stop flags throttled for the control API
    arn = machine.start("throttled-1", {"scenario": scenario(30), "target_url": score_server.url})
    with StreamPump(machine.world):
        _wait_for(lambda: score_server.received > 10)

        def throttled(self: StopFlags, run_id: str) -> bool:
            raise RuntimeError("ThrottlingException: Rate exceeded")

        # When an operator presses Stop
        with monkeypatch.context() as patched:
            patched.setattr(StopFlags, "stops", throttled)
            stopped = request("POST", "/runs/current/stop")
        done = machine.wait(arn)
        _wait_for(lambda: len(_generator_outcomes(machine)) == 2, timeout=15)

    # Then Stop wrote the flag, stopped the execution and answered, without reading anything back
    assert stopped["status"] == 200 and stopped["body"]["status"] == "aborted", stopped
    assert done["status"] in ("ABORTED", "FAILED")


def test_stop_of_a_run_id_that_cannot_exist_is_a_400(
    machine: Machine,  # noqa: F811 - fixture
) -> None:
    for bad in ("has space", "x" * 81, "semi;colon"):
        answer = request("POST", f"/runs/{bad}/stop")
        assert answer["status"] == 400, (bad, answer)
        assert answer["body"]["error"].startswith("run_id: "), answer
