"""FIS of the emulation: experiments that moto records are carried out on the reference
service's fault API, for as long as they run (until stopped or their actions' duration)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stresslab.local.faults import ReferenceTargetFaults
from stresslab.scenario.spec import FaultSpec

from .template import ACCOUNT, AGENTS, REGION, agent_function_arn

logger = logging.getLogger(__name__)
ACTIVE = frozenset({"pending", "initiating", "running"})
_ISO = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
DEFAULT_DURATION_S = 3600.0
# The reference service refuses longer faults; the carrier clears them when the experiment
# ends anyway, so the service's own duration is only a backstop.
SERVICE_MAX_DURATION_S = 3600.0


def iso_seconds(text: str | None) -> float:
    match = _ISO.match(text or "")
    if not match:
        return DEFAULT_DURATION_S
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _fraction(parameters: dict[str, str], name: str = "invocationPercentage") -> float:
    return min(1.0, max(0.0, float(parameters.get(name, "100")) / 100))


def fault_of_action(action: dict[str, Any]) -> tuple[str, float] | None:
    """(reference fault type, intensity) for a FIS Lambda action; None for any other action."""
    parameters = action.get("parameters") or {}
    kind = action.get("actionId", "")
    if kind == "aws:lambda:invocation-error":
        if parameters.get("preventExecution") == "true":
            return "agent_down", _fraction(parameters)
        return "agent_errors", _fraction(parameters)
    if kind == "aws:lambda:invocation-add-delay":
        return "latency", float(parameters.get("startupDelayMilliseconds", "1000"))
    if kind == "aws:lambda:invocation-http-integration-response":
        status = parameters.get("statusCode", "500")
        return ("throttle" if status == "429" else "agent_errors"), _fraction(parameters)
    return None


def agents_of(arns: list[str]) -> list[str | None]:
    """The agents the functions stand for: [None] (every agent) when all are named."""
    by_arn = {agent_function_arn(agent): agent for agent in AGENTS}
    agents = [by_arn[arn] for arn in arns if arn in by_arn]
    if set(agents) == set(AGENTS):
        return [None]
    return list(dict.fromkeys(agents))


@dataclass
class CarriedExperiment:
    experiment_id: str
    faults: list[str]
    ends_at: float
    not_emulated: list[str] = field(default_factory=list)


@dataclass
class FaultEvent:
    at: float
    experiment_id: str
    change: str  # "started" | "stopped" | "completed"
    faults: list[str]


class FisCarrier:
    """Watches moto's FIS experiments (whose own state machine is frozen, so an experiment runs
    until stopped or its actions end, as in AWS) and applies them to the reference service."""

    def __init__(self, faults: Callable[[], ReferenceTargetFaults],
                 loop: asyncio.AbstractEventLoop, poll_s: float = 0.1) -> None:
        from moto.fis.models import fis_backends
        from moto.moto_api import state_manager

        state_manager.set_transition(model_name="fis::experiment",
                                     transition={"progression": "manual", "times": 10**9})
        self._backend = fis_backends[ACCOUNT][REGION]
        self._faults = faults
        self._loop = loop
        self._poll_s = poll_s
        self.carried: dict[str, CarriedExperiment] = {}
        self.finished: set[str] = set()
        self.timeline: list[FaultEvent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fis-carrier")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        for experiment_id in list(self.carried):
            self._end(experiment_id, "stopped")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # noqa: BLE001 - one failed step must not end the carrier
                logger.exception("carrying out FIS experiments failed")
            self._stop.wait(self._poll_s)

    def _step(self) -> None:
        for experiment in list(self._backend.experiments.values()):
            status = experiment.status
            if experiment.id in self.finished:
                continue
            if experiment.id not in self.carried:
                if status in ACTIVE:
                    self._begin_or_fail(experiment)
                continue
            carried = self.carried[experiment.id]
            if status == "stopping":
                self._end(experiment.id, "stopped")
                experiment.status = "stopped"
            elif status not in ACTIVE:
                self._end(experiment.id, status or "failed")
            elif time.monotonic() >= carried.ends_at:
                self._end(experiment.id, "completed")
                experiment.status = "completed"

    def _run_coroutine(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)

    def _begin_or_fail(self, experiment: Any) -> None:
        """An action that cannot be carried out fails the experiment, as in FIS."""
        try:
            self._begin(experiment)
        except Exception as error:  # noqa: BLE001 - recorded on the experiment and timeline
            logger.warning("experiment %s failed: %s", experiment.id, error)
            self.finished.add(experiment.id)
            experiment.status = "failed"
            self.timeline.append(FaultEvent(time.time(), experiment.id, "failed", []))

    def _begin(self, experiment: Any) -> None:
        experiment.status = "initiating"
        faults: list[str] = []
        not_emulated: list[str] = []
        duration = 0.0
        for name, action in (experiment.actions or {}).items():
            found = fault_of_action(action)
            if found is None:
                not_emulated.append(f"{name}: {action.get('actionId')}")
                continue
            kind, intensity = found
            seconds = iso_seconds(action.get("parameters", {}).get("duration")
                                  or action.get("duration"))
            duration = max(duration, seconds)
            arns: list[str] = []
            for target_name in (action.get("targets") or {}).values():
                arns += (experiment.targets.get(target_name) or {}).get("resourceArns") or []
            for agent in agents_of(arns):
                spec = FaultSpec(type=kind, target=agent, at=0,
                                 duration=min(seconds, SERVICE_MAX_DURATION_S),
                                 intensity=intensity)
                key = f"{experiment.id}:{name}:{agent or 'all'}"
                faults.append(self._run_coroutine(self._faults().inject(spec, key)))
        self.carried[experiment.id] = CarriedExperiment(
            experiment.id, faults, time.monotonic() + (duration or DEFAULT_DURATION_S),
            not_emulated)
        if not_emulated:
            logger.warning("experiment %s: actions not emulated: %s", experiment.id,
                           "; ".join(not_emulated))
        experiment.status = "running"
        self.timeline.append(FaultEvent(time.time(), experiment.id, "started", faults))

    def _end(self, experiment_id: str, change: str) -> None:
        carried = self.carried.pop(experiment_id)
        self.finished.add(experiment_id)
        for fault_id in carried.faults:
            try:
                self._run_coroutine(self._faults().clear(fault_id))
            except Exception:  # noqa: BLE001 - the fault expires on its own duration anyway
                logger.exception("clearing fault %s failed", fault_id)
        self.timeline.append(FaultEvent(time.time(), experiment_id, change, carried.faults))
