"""StepFunctionsRuns: start and stop executions of the run_scenario state machine; what Stop
stops (`current` is the run that is running) and how."""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code
from stresslab.runs import RUN_ID

CURRENT = "current"
RUNNING = "RUNNING"


class InvalidRunId(ValueError):
    """The id cannot name a run (runs are execution names: 1-80 of [A-Za-z0-9_-])."""


class NoSuchRun(LookupError):
    """Stop named a run that does not exist, or `current` while no run is running."""


class RunAlreadyEnded(RuntimeError):
    """Stop named a run that has already ended."""


class StepFunctionsRuns:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self.state_machine_arn = state_machine_arn

    def execution_arn(self, run_id: str) -> str:
        """Executions are named after their run, so the ARN follows from the id."""
        prefix, _, name = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{name}:{run_id}"

    def start(self, run_id: str, run_input: dict[str, Any]) -> str:
        response = self._client.start_execution(
            stateMachineArn=self.state_machine_arn, name=run_id, input=json.dumps(run_input),
        )
        return str(response["executionArn"])

    def stop(self, run_id: str, cause: str) -> bool:
        """StopExecution; False when the execution is unknown or already over."""
        try:
            self._client.stop_execution(
                executionArn=self.execution_arn(run_id), error="RunStopped", cause=cause[:32768],
            )
        except ClientError as error:
            if error_code(error) in ("ExecutionDoesNotExist", "ValidationException"):
                return False
            raise
        return True

    def running(self) -> list[str]:
        """Run ids of the running executions, newest first (executions are named after runs)."""
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn,
                                  "statusFilter": RUNNING}
        found: list[tuple[str, str]] = []
        while True:
            page = self._client.list_executions(**kwargs)
            found += [(str(e["startDate"]), str(e["name"])) for e in page["executions"]]
            if not page.get("nextToken"):
                return [name for _, name in sorted(found, reverse=True)]
            kwargs["nextToken"] = page["nextToken"]

    def status(self, run_id: str) -> str | None:
        try:
            response = self._client.describe_execution(executionArn=self.execution_arn(run_id))
        except ClientError as error:
            if error_code(error) == "ExecutionDoesNotExist":
                return None
            raise
        return str(response["status"])


class Executions(Protocol):
    def running(self) -> list[str]: ...

    def status(self, run_id: str) -> str | None: ...

    def stop(self, run_id: str, cause: str) -> bool: ...


class RecordedStatus(Protocol):
    def get_run(self, run_id: str) -> dict[str, Any]: ...


class StopFlag(Protocol):
    def trip(self, run_id: str, by: str = "") -> None: ...


def resolve_run(requested: str, executions: Executions, store: RecordedStatus) -> str:
    """The run Stop means: `current` is the newest running execution; a named run must exist
    (as an execution, or in the table before its plan step has run) and not have ended."""
    if not RUN_ID.match(requested):
        raise InvalidRunId("run_id: must be 1-80 letters, digits, '-' or '_'")
    if requested == CURRENT:
        running = executions.running()
        if not running:
            raise NoSuchRun("no run is running")
        return running[0]
    execution = executions.status(requested)
    try:
        recorded: str | None = str(store.get_run(requested)["status"])
    except LookupError:
        recorded = None
    if execution is None and recorded is None:
        raise NoSuchRun(f"run {requested} not found")
    if execution != RUNNING and recorded != "running":
        raise RunAlreadyEnded(
            f"run {requested} has already ended ({recorded or (execution or '').lower()})")
    return requested


def stop_execution(run_id: str, executions: Executions, flag: StopFlag, operator: str) -> bool:
    """Flag first, so every worker stops at its next poll even if StopExecution fails; then end
    the execution so no further wave starts. True when an execution was stopped."""
    flag.trip(run_id, by=operator)
    return executions.stop(run_id, f"stopped by {operator}")


class JustStopped:
    """The flag of a run Stop has just written: known without reading it back, so a throttled
    read cannot turn a Stop that worked into an error."""

    def stops(self, run_id: str) -> bool:
        return True
