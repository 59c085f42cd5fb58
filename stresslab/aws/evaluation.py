"""Evaluate: rebuild the run from its stored seconds, judge it with the core, publish outputs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from stresslab.aws.aggregation import rebuild_aggregator
from stresslab.aws.faults import fault_failure
from stresslab.aws.health import saturation
from stresslab.aws.second_items import StoredWindow, WorkerRecord
from stresslab.generation.catalog import CURRENCIES
from stresslab.generation.plan import Plan
from stresslab.judgement.business import PriceTable
from stresslab.judgement.summary import RunFacts, summarize_run
from stresslab.runs import iso
from stresslab.scenario.spec import ScenarioSpec

SATURATED_SHARE = 0.05
# How long after the planned end Evaluate waits for the last batches to be merged.
SETTLE_TIMEOUT_S = 300.0


class RunReader(Protocol):
    def get_run(self, run_id: str) -> dict[str, Any]: ...

    def seconds(self, run_id: str) -> dict[int, StoredWindow]: ...

    def workers(self, run_id: str) -> dict[str, WorkerRecord]: ...

    def duplicates(self, run_id: str) -> int: ...

    def finish_run(
        self, run_id: str, status: str, ended_at: str, summary: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None, only_if_running: bool = False,
    ) -> bool: ...


class ResultsWriter(Protocol):
    def write(
        self, run_id: str, summary: Mapping[str, Any], series: Sequence[Mapping[str, Any]]
    ) -> dict[str, str]: ...


class StopSignal(Protocol):
    def stops(self, run_id: str) -> bool: ...


class Evaluation(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    run_id: str
    status: str
    passed: bool
    outputs: dict[str, str]
    workers_failed: list[str]


def expected_workers(plan: Plan) -> list[str]:
    return [a.worker_id for a in plan.assignments(run_started_at=0.0)]


def failed_workers(plan: Plan, workers: dict[str, WorkerRecord]) -> list[str]:
    """Planned workers none of whose attempts (w0-s1, w0-s1-r1, ...) reported completely."""
    failed = []
    for worker_id in expected_workers(plan):
        attempts = [w for key, w in workers.items()
                    if key == worker_id or key.startswith(f"{worker_id}-r")]
        if not any(w.complete for w in attempts):
            failed.append(worker_id)
    return failed


class MetricsNotSettled(RuntimeError):
    """Some planned worker's batches are not merged yet, the settle deadline is still ahead,
    and this invocation has no time left to wait: the state machine retries Evaluate."""


def unsettled_workers(
    plan: Plan, workers: dict[str, WorkerRecord], stopped: bool = False,
) -> list[str]:
    """Workers whose batches are not all merged: every attempt that reported but is not
    complete, and (unless the run was stopped) every planned worker no attempt completed."""
    pending = sorted(w for w, record in workers.items() if not record.complete)
    if not stopped:
        pending += [w for w in failed_workers(plan, workers) if w not in pending]
    return pending


def settle_deadline(run: dict[str, Any], plan: Plan, settle_timeout_s: float) -> float:
    """Epoch time after which Evaluate judges what is merged: the planned end plus a bound."""
    return float(run["run_started_at"]) + len(plan.expected_per_second) + settle_timeout_s


def wait_until_settled(
    store: RunReader, run_id: str, plan: Plan, deadline: float, give_up_at: float,
    stopped: bool = False, clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep, poll_s: float = 2.0,
) -> dict[str, WorkerRecord]:
    """Workers as merged, once every planned worker's final batch and all before it are in
    (or at `deadline`, when what is missing is judged missing). The aggregator lags the
    workers by its Kinesis batching and any backlog; waiting on the data, not on a fixed
    time, keeps a slow stream from being judged early and a quick one from waiting.
    Raises MetricsNotSettled when `give_up_at` (this invocation's budget) comes first."""
    while True:
        workers = store.workers(run_id)
        pending = unsettled_workers(plan, workers, stopped)
        now = clock()
        if not pending or now >= deadline:
            return workers
        if now + poll_s >= give_up_at:
            raise MetricsNotSettled(
                f"{len(pending)} workers not fully merged yet (first {pending[0]}); "
                f"{deadline - now:.0f}s left before judging without them")
        sleep(poll_s)


def saturated_seconds(seconds: dict[int, StoredWindow]) -> list[tuple[int, str]]:
    found = []
    for second, stored in sorted(seconds.items()):
        why = saturation(stored.batch.health)
        if why:
            found.append((second, why))
    return found


def evaluate_run(
    run_id: str, store: RunReader, results: ResultsWriter, kill_switch: StopSignal,
    prices: PriceTable, settle_timeout_s: float = SETTLE_TIMEOUT_S,
    budget_s: float = float("inf"), now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Evaluation:
    run = store.get_run(run_id)
    spec = ScenarioSpec.model_validate(run["spec"])
    plan = Plan.model_validate(run["plan"])
    stopped = kill_switch.stops(run_id)
    workers = wait_until_settled(
        store, run_id, plan, settle_deadline(run, plan, settle_timeout_s),
        give_up_at=now() + budget_s, stopped=stopped, clock=now, sleep=sleep,
    )
    seconds = store.seconds(run_id)
    aggregator = rebuild_aggregator(
        run_id, plan.expected_per_second, seconds, workers, store.duplicates(run_id)
    )
    failed = failed_workers(plan, workers)
    notes = list(run.get("notes", []))
    missing = plan.scheduled_total - aggregator.totals.scheduled
    status = "completed"
    if stopped:
        status, failed = "aborted", []
    elif missing > 0:
        notes.append(f"{missing} planned arrivals were never scheduled (failed workers)")
    saturated = saturated_seconds(seconds)
    if len(saturated) > max(1, math.floor(SATURATED_SHARE * max(len(seconds), 1))):
        status = "invalid" if status == "completed" else status
        first_second, why = saturated[0]
        notes.append(f"load generators saturated in {len(saturated)} seconds (first at "
                     f"{first_second}s: {why}); the run measured the generator, not the target")
    facts = RunFacts(
        run_id=run_id, target=run["target"], started_at=run["started_at"], ended_at=iso(now()),
        status=status, workers_expected=len(expected_workers(plan)), workers_failed=failed,
        fault_windows=[_fault_window(f, plan, run.get("fault_failures", []))
                       for f in run.get("faults", [])], notes=notes,
    )
    summary = summarize_run(
        spec, plan, aggregator, facts, prices,
        CURRENCIES[spec.reporting_currency].units_per_usd,
    )
    last = max(aggregator.seconds, default=-1)
    faults = [(f.key, f.at, f.end) for f in spec.faults
              if f.key in {x["key"] for x in run.get("faults", [])}]
    series = [
        aggregator.second_row(s, [key for key, start, end in faults if start <= s < end])
        for s in range(last + 1)
    ]
    written = summary.to_json_dict()
    outputs = results.write(run_id, written, series)
    store.finish_run(run_id, status, facts.ended_at, summary=written)
    return Evaluation(run_id=run_id, status=status, passed=summary.passed,
                      outputs=outputs, workers_failed=failed)


def _fault_window(
    fault: dict[str, Any], plan: Plan, failures: list[dict[str, Any]]
) -> dict[str, Any]:
    """The fault as scheduled; FIS does not report when its actions took hold, so the
    summary measures it on the planned seconds."""
    window = {"type": fault["type"], "label": fault["label"], "key": fault["key"],
              "planned_start": fault["start_at"], "planned_end": fault["end_at"],
              "status": "scheduled with AWS FIS", "template_id": fault["template_id"]}
    index = fault.get("index")
    if isinstance(index, int) and 0 <= index < len(plan.faults):
        planned = plan.faults[index]
        window.update(number=index + 1, target=planned.target, intensity=planned.intensity,
                      planned_start_s=planned.at, planned_end_s=planned.end)
    window.update(fault_failure(failures, index))
    return window
