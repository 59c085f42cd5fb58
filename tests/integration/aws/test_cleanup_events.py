"""Cleanup under moto, from both of its callers: the state machine's Catch and EventBridge's
'Step Functions Execution Status Change' (a console StopExecution, a timeout)."""

from __future__ import annotations

from typing import Any

from lambdas import cleanup
from stresslab.aws.store import DynamoRunStore

from .sfn_harness import FakeContext
from .world import TABLE, World


def status_change(run_id: str, status: str, **detail: Any) -> dict[str, Any]:
    # As EventBridge delivers it (the Step Functions user guide's example, trimmed)
    return {
        "version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": "123456789012", "time": "2019-02-26T19:42:21Z", "region": "us-east-1",
        "resources": [f"arn:aws:states:us-east-1:123456789012:execution:run:{run_id}"],
        "detail": {"executionArn": f"arn:aws:states:us-east-1:123456789012:execution:run:{run_id}",
                   "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:run",
                   "name": run_id, "status": status, "startDate": 1551225271984,
                   "stopDate": 1551225300000, "input": "{}", "output": None, **detail},
    }


def test_a_status_change_from_eventbridge_records_how_the_run_ended(aws: World) -> None:
    # Given two running runs
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    for run_id in ("stopped-1", "late-1"):
        store.create_run(run_id, "2026-12-03T16:00:00.000Z", {"spec": {}, "status": "running"})

    # When EventBridge reports one stopped from the console and one timed out
    stopped = cleanup.handler(status_change("stopped-1", "ABORTED"), FakeContext())
    late = cleanup.handler(status_change("late-1", "TIMED_OUT", error="States.Timeout",
                                         cause="took too long"), FakeContext())

    # Then each is recorded with its end, once
    assert (stopped["status"], stopped["recorded"]) == ("aborted", True)
    assert (late["status"], late["recorded"], late["error"]) == ("timed_out", True, "RunFailed")
    assert store.get_run("stopped-1")["status"] == "aborted"
    assert store.get_run("late-1")["status"] == "timed_out"


def test_a_catch_records_the_caught_error(aws: World) -> None:
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    store.create_run("caught-1", "2026-12-03T16:00:00.000Z", {"spec": {}, "status": "running"})

    cleaned = cleanup.handler({"run_id": "caught-1", "error": {"Error": "MetricsLost",
                                                               "Cause": "a shard died"}},
                              FakeContext())

    assert (cleaned["status"], cleaned["error"], cleaned["cause"]) == (
        "failed", "MetricsLost", "a shard died")
    assert store.get_run("caught-1")["status"] == "failed"
