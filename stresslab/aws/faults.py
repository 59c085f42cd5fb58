"""FisFaults: start and stop AWS FIS experiments by fault type, tagged with their run."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code

logger = logging.getLogger(__name__)

RUN_TAG = "stresslab:run_id"
FAULT_TAG = "stresslab:fault"
# The stack's grants stop only experiments tagged with its name (and start only tagged ones).
STACK_TAG = "stresslab:stack"
ACTIVE_STATES = frozenset({"pending", "initiating", "running"})


class UnknownFault(ValueError):
    """No FIS experiment template is configured for that fault type."""


def template_id(templates: dict[str, str], fault_type: str, target: str | None) -> str | None:
    """The template for a fault on one target ("type:target"), or on all ("type").

    A fault aimed at one target never falls back to the all-targets template: a throttle
    meant for one stream must not throttle every function.
    """
    return templates.get(f"{fault_type}:{target}" if target else fault_type)


class FisFaults:
    """Experiments from the FAULT_TEMPLATES map (fault type -> experiment template id)."""

    def __init__(self, client: Any, templates: dict[str, str], stack: str = "") -> None:
        self._client = client
        self.templates = dict(templates)
        self._stack = stack

    def template_for(self, fault_type: str, target: str | None = None) -> str:
        template = template_id(self.templates, fault_type, target)
        if template is None:
            known = ", ".join(sorted(self.templates)) or "none configured"
            raise UnknownFault(f"type: no FIS template for fault {fault_type!r}; known: {known}")
        return template

    def start(self, fault_type: str, run_id: str | None = None, target: str | None = None) -> str:
        """Start the experiment now; its id."""
        tags = {FAULT_TAG: fault_type}
        if self._stack:
            tags[STACK_TAG] = self._stack
        if run_id:
            tags[RUN_TAG] = run_id
        response = self._client.start_experiment(
            clientToken=str(uuid.uuid4()),
            experimentTemplateId=self.template_for(fault_type, target), tags=tags,
        )
        return str(response["experiment"]["id"])

    def stop(self, experiment_id: str) -> bool:
        """Stop one experiment; False when FIS no longer knows it."""
        try:
            self._client.stop_experiment(id=experiment_id)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return False
            raise
        return True

    def active_for_run(self, run_id: str) -> list[str]:
        found: list[str] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._client.list_experiments(**kwargs)
            for experiment in page.get("experiments", []):
                status = experiment.get("state", {}).get("status")
                if experiment.get("tags", {}).get(RUN_TAG) == run_id and status in ACTIVE_STATES:
                    found.append(str(experiment["id"]))
            token = page.get("nextToken")
            if not token:
                return found
            kwargs["nextToken"] = token

    def stop_run(self, run_id: str) -> list[str]:
        """Stop every still-active experiment of the run; the ids stopped."""
        stopped = []
        for experiment_id in self.active_for_run(run_id):
            if self.stop(experiment_id):
                stopped.append(experiment_id)
        return stopped


def fault_failure(failures: list[dict[str, Any]], index: object) -> dict[str, Any]:
    """What the fault window of the plan's fault `index` becomes when FIS failed it.

    `failures` are what the state machine records on the run when StartFault or StopFault
    fails ({"index", "key", "phase": "start" | "stop", "error": the Catch's error as JSON});
    a fault that never started was never injected (start_s None), one that failed to stop
    keeps its window, and both carry the error. Empty when FIS did not fail it.
    """
    found = [f for f in failures if str(f.get("index")) == str(index)]
    if not found:
        return {}
    errors = "; ".join(_error_text(f) for f in found)
    if any(f.get("phase") == "start" for f in found):
        return {"status": "failed to start with AWS FIS", "error": errors,
                "start_s": None, "end_s": None}
    return {"status": "failed to stop with AWS FIS (its action backstop ends it)",
            "error": errors}


def _error_text(failure: dict[str, Any]) -> str:
    text = str(failure.get("error", ""))
    try:
        caught = json.loads(text)
    except ValueError:
        return text
    if not isinstance(caught, dict):
        return text
    error, cause = caught.get("Error", ""), caught.get("Cause", "")
    return f"{error}: {cause}" if cause else str(error)
