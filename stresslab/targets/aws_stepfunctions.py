"""Step Functions Express target: StartSyncExecution once per transaction."""

from __future__ import annotations

from typing import Any

from stresslab.ports import Outcome
from stresslab.targets.aws_calls import DEFAULT_TIMEOUT_S, SyncCallTarget, json_answer
from stresslab.targets.config import StepFunctionsExpressTarget
from stresslab.targets.template import RenderBody

# The workflow answered with a failure of its own (a state failed, or its TimeoutSeconds
# passed): server-side failures, as API Gateway in front of it would answer 502/504.
WORKFLOW_FAILED = "http_5xx"
WORKFLOW_TIMED_OUT = "http_5xx"
SFN_FAILURES = {"FAILED": WORKFLOW_FAILED, "TIMED_OUT": WORKFLOW_TIMED_OUT}


class ExpressWorkflowTarget(SyncCallTarget):
    """StartSyncExecution; SUCCEEDED gives the output JSON, FAILED and TIMED_OUT http_5xx."""

    def __init__(
        self, target: StepFunctionsExpressTarget, client: Any, render: RenderBody | None = None,
        max_in_flight: int = 64,
    ) -> None:
        timeout = target.timeout or DEFAULT_TIMEOUT_S
        super().__init__(client, render, max_in_flight, timeout, "express-target")
        self._arn = target.state_machine_arn

    def _call(self, body: bytes) -> Any:
        return self._client.start_sync_execution(stateMachineArn=self._arn, input=body.decode())

    def _read(self, response: Any) -> Outcome:
        status = response.get("status")
        if status == "SUCCEEDED":
            return json_answer(response.get("output"))
        return Outcome(SFN_FAILURES.get(str(status), "other"))
