"""StepFunctionsRuns: start and stop executions of the run_scenario state machine."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code


def new_run_id(scenario: str, now: datetime | None = None) -> str:
    """An id that is also a valid execution name (at most 80 of [A-Za-z0-9-_])."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^a-z0-9_-]", "-", scenario.lower())[:48]
    return f"{name}-{stamp}-{secrets.token_hex(3)}"


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

    def status(self, run_id: str) -> str | None:
        try:
            response = self._client.describe_execution(executionArn=self.execution_arn(run_id))
        except ClientError as error:
            if error_code(error) == "ExecutionDoesNotExist":
                return None
            raise
        return str(response["status"])
