"""FisFaults: start and stop AWS FIS experiments by fault type, tagged with their run."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code

logger = logging.getLogger(__name__)

RUN_TAG = "stresslab:run_id"
FAULT_TAG = "stresslab:fault"
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

    def __init__(self, client: Any, templates: dict[str, str]) -> None:
        self._client = client
        self.templates = dict(templates)

    def template_for(self, fault_type: str, target: str | None = None) -> str:
        template = template_id(self.templates, fault_type, target)
        if template is None:
            known = ", ".join(sorted(self.templates)) or "none configured"
            raise UnknownFault(f"type: no FIS template for fault {fault_type!r}; known: {known}")
        return template

    def start(self, fault_type: str, run_id: str | None = None, target: str | None = None) -> str:
        """Start the experiment now; its id."""
        tags = {FAULT_TAG: fault_type}
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
