"""Cleanup: every run ends with its experiments stopped and its final status recorded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from stresslab.aws.store import RunNotFound
from stresslab.runs import iso


class ExperimentStopper(Protocol):
    def stop_run(self, run_id: str) -> list[str]: ...


class StatusRecorder(Protocol):
    def finish_run(
        self, run_id: str, status: str, ended_at: str, summary: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None, only_if_running: bool = False,
    ) -> bool: ...


class StopSignal(Protocol):
    def stops(self, run_id: str) -> bool: ...


class Cleaned(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    run_id: str
    status: str
    experiments_stopped: list[str]
    recorded: bool
    error: str
    cause: str


def final_status(error: str, execution_status: str | None, stopped: bool) -> str:
    if stopped or error == "RunStopped" or execution_status == "ABORTED":
        return "aborted"
    if execution_status == "TIMED_OUT" or error == "States.Timeout":
        return "timed_out"
    return "failed"


def cleanup_run(
    run_id: str, faults: ExperimentStopper, store: StatusRecorder, kill_switch: StopSignal,
    error: str = "", cause: str = "", execution_status: str | None = None,
    now: Callable[[], float] = time.time,
) -> Cleaned:
    """Stop the run's FIS experiments and record why it ended; safe to call more than once."""
    stopped = faults.stop_run(run_id)
    status = final_status(error, execution_status, kill_switch.stops(run_id))
    try:
        recorded = store.finish_run(
            run_id, status, iso(now()), error={"error": error, "cause": cause[:4000]},
            only_if_running=True,
        )
    except RunNotFound:
        recorded = False
    # A stopped run fails its Map (every worker raises RunStopped, over any tolerance); the
    # execution then says why in the operator's words rather than the Map's.
    # States.* names are reserved for Step Functions, so the Fail state reports those as
    # RunFailed with the original name in the cause.
    if status == "aborted":
        reported = "RunStopped"
    elif not error or error.startswith("States."):
        reported = "RunFailed"
    else:
        reported = error
    detail = f"{error}: {cause}" if error and reported != error else cause
    return Cleaned(run_id=run_id, status=status, experiments_stopped=stopped, recorded=recorded,
                   error=reported, cause=detail or f"run {run_id} ended: {status}")
