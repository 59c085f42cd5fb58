"""Capacity search: step the rate up until a criterion breaks, back off, report the highest
rate that met the criteria."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stresslab.judgement.criteria import CriterionResult, judge
from stresslab.judgement.summary_model import RunSummary
from stresslab.scenario.criteria import Criterion, parse_threshold
from stresslab.scenario.settings import CapacitySearch
from stresslab.scenario.spec import ScenarioSpec

CAPACITY_SCHEMA = "stresslab.capacity/v1"
WHOLE_TPS_SPAN = 4.0  # refine to whole TPS while the interval is at least this wide

Stage = Literal["step-up", "refine"]
Verdict = Literal["passed", "failed", "generator-limited"]
Outcome = Literal["found", "max-reached", "none-passed", "generator-limited", "incomplete"]

# Metrics made of the target's own answers, whatever the generator's timing.
TARGET_METRICS = frozenset({
    "error_rate", "timeout_rate", "throttle_rate", "errors", "timeouts", "lost",
    "agent_error_rate", "accuracy", "precision", "recall", "false_positive_rate",
})
LATENCY_METRICS = frozenset({
    "avg_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PlannedStep(_Frozen):
    """The next rate to hold, and why."""

    tps: float
    stage: Stage


class StepObservation(_Frozen):
    """What one step's constant-rate run measured."""

    tps: float
    stage: Stage
    run_id: str | None = None
    status: str = "completed"
    achieved_tps: float | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    criteria: list[CriterionResult] = Field(default_factory=list)
    reconciled: bool = True
    dropped: int = 0
    lag_p99_ms: float | None = None
    lag_max_ms: float | None = None


class StepResult(_Frozen):
    """One step judged: passed, failed (the target broke a criterion) or generator-limited."""

    observation: StepObservation
    verdict: Verdict
    failed_criteria: list[str] = Field(default_factory=list)
    generator_issues: list[str] = Field(default_factory=list)

    @property
    def tps(self) -> float:
        return self.observation.tps

    @property
    def stage(self) -> Stage:
        return self.observation.stage

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


class CapacityConclusion(_Frozen):
    """What the steps so far say about the target's capacity."""

    outcome: Outcome
    capacity_tps: float | None
    first_failing_tps: float | None
    highest_passing_tps: float | None
    resolution_tps: float | None
    generator_limited: bool
    notes: list[str] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.capacity_tps is not None


def step_metrics(summary: RunSummary) -> dict[str, float | None]:
    """The values a step is charted and reported on, from its summary.json."""
    counts, latency, lag = summary.counts, summary.latency_ms, summary.schedule_lag_ms
    sent = counts.sent
    failed = counts.errors + counts.timeouts
    return {
        "achieved_tps": summary.load.achieved_tps_avg,
        "p50_ms": latency.p50,
        "p95_ms": latency.p95,
        "p99_ms": latency.p99,
        "max_ms": latency.max,
        "error_rate": failed / sent if sent else None,
        "throttle_rate": counts.errors_by_class.get("http_429", 0) / sent if sent else None,
        "sent": float(sent),
        "dropped": float(counts.dropped),
        "lag_p99_ms": lag.p99 if lag else None,
    }


def observe_step(step: PlannedStep, summary: RunSummary) -> StepObservation:
    """A step's observation from the summary.json of its run."""
    metrics = step_metrics(summary)
    return StepObservation(
        tps=step.tps,
        stage=step.stage,
        run_id=summary.run_id,
        status=summary.status,
        achieved_tps=metrics["achieved_tps"],
        metrics=metrics,
        criteria=summary.criteria,
        reconciled=summary.counts.reconciled,
        dropped=summary.counts.dropped,
        lag_p99_ms=metrics["lag_p99_ms"],
        lag_max_ms=summary.schedule_lag_ms.max if summary.schedule_lag_ms else None,
    )


def _observed(value: float | None) -> str:
    return "nothing" if value is None else f"{value:,.4g}"


def generator_issues(search: CapacitySearch, observation: StepObservation) -> list[str]:
    """Why the generator did not deliver the step's load as planned (empty: it did)."""
    issues = []
    if observation.status == "failed":
        issues.append("worker processes failed")
    if observation.dropped > 0:
        issues.append(f"{observation.dropped:,} arrivals dropped by the generator")
    lag = observation.lag_p99_ms
    if lag is not None and lag > search.max_lag_p99_ms:
        issues.append(f"schedule lag p99 {lag:,.1f} ms > {search.max_lag_p99_ms:g} ms")
    return issues


def fails_on_the_target_alone(result: CriterionResult, lag_max_ms: float | None) -> bool:
    """Whether a broken criterion stays broken whatever the generator's lag did.

    The target's own answers (errors, timeouts, requests it never answered, its decisions)
    are its own. Latency counts from the intended send time, so each request's latency is
    the target's time plus the generator's lag: a latency percentile (or mean) still over
    its bound once the worst lag is taken off is over it on the target's time alone.
    """
    threshold = parse_threshold(result.expr)
    if result.observed is None:  # nothing measured: nothing to hold against anyone
        return False
    if threshold.metric in TARGET_METRICS:
        return True
    if threshold.metric not in LATENCY_METRICS or threshold.op not in ("<", "<="):
        return False
    discounted = result.observed - (lag_max_ms or 0.0)
    return not judge(Criterion(expr=result.expr), {threshold.metric: discounted}).passed


def judge_step(search: CapacitySearch, observation: StepObservation) -> StepResult:
    """Passed, failed, or generator-limited.

    When the generator did not deliver the step as planned, a pass proves nothing, and a
    failure counts against the target only if it fails on the target's account alone.
    """
    broken = [c for c in observation.criteria if not c.passed]
    failed = [f"{c.expr} [{c.window}] observed {_observed(c.observed)}" for c in broken]
    if not observation.reconciled:
        failed.append("counts do not reconcile (requests unanswered or not received)")
    issues = generator_issues(search, observation)
    verdict: Verdict = "failed" if failed else "passed"
    if issues:
        own = not observation.reconciled or any(
            fails_on_the_target_alone(c, observation.lag_max_ms) for c in broken
        )
        if observation.status == "failed" or verdict == "passed" or not own:
            verdict = "generator-limited"
    return StepResult(
        observation=observation, verdict=verdict, failed_criteria=failed, generator_issues=issues
    )


def _midpoint(lo: float, hi: float) -> float | None:
    mid = (lo + hi) / 2
    if hi - lo >= WHOLE_TPS_SPAN:
        mid = float(round(mid))
    return mid if lo < mid < hi else None


def _bounds(steps: Sequence[StepResult]) -> tuple[float | None, float | None]:
    """(highest passing rate, lowest failing rate above it)."""
    lo = max((s.tps for s in steps if s.verdict == "passed"), default=None)
    hi = min(
        (s.tps for s in steps if s.verdict == "failed" and (lo is None or s.tps > lo)),
        default=None,
    )
    return lo, hi


def next_step(search: CapacitySearch, steps: Sequence[StepResult]) -> PlannedStep | None:
    """The next rate to try given the steps so far; None when the search is over.

    Step up from start_tps by step_tps while steps pass; at the first failure, bisect
    between the highest passing and the lowest failing rate for refine_steps rounds.
    A generator-limited step ends the search: going higher would only be less valid.
    """
    if not steps:
        return PlannedStep(tps=search.start_tps, stage="step-up")
    if steps[-1].verdict == "generator-limited":
        return None
    lo, hi = _bounds(steps)
    if lo is None:
        return None
    if hi is None:
        if lo >= search.max_tps:
            return None
        climbed = sum(1 for s in steps if s.stage == "step-up")
        return PlannedStep(tps=search.step_up_rate(climbed), stage="step-up")
    if sum(1 for s in steps if s.stage == "refine") >= search.refine_steps:
        return None
    mid = _midpoint(lo, hi)
    return None if mid is None else PlannedStep(tps=mid, stage="refine")


def conclude(search: CapacitySearch, steps: Sequence[StepResult]) -> CapacityConclusion:
    """The capacity the steps establish: the highest rate that met the criteria, with a
    failing rate above it (or max_tps reached), unless the generator was the limit."""
    lo, hi = _bounds(steps)
    limited = [s for s in steps if s.verdict == "generator-limited"]
    stopped_by_generator = bool(steps) and steps[-1].verdict == "generator-limited"
    notes = []
    outcome: Outcome
    if next_step(search, steps) is not None:
        outcome = "incomplete"
    elif stopped_by_generator and hi is None:
        outcome = "generator-limited"
    elif lo is None:
        outcome = "none-passed"
    elif hi is None:
        outcome = "max-reached"
        notes.append(f"every step up to max_tps passed: the capacity is at least {lo:g} TPS")
    else:
        outcome = "found"
    if limited and outcome != "generator-limited":
        rates = ", ".join(f"{s.tps:g}" for s in limited)
        notes.append(f"the generator could not keep up at {rates} TPS (not judged)")
    if outcome == "generator-limited":
        reached = f"above {lo:g} TPS" if lo is not None else "at the first step"
        issues = "; ".join(limited[-1].generator_issues)
        notes.append(
            f"the generator could not keep up {reached} ({issues}) before the target broke "
            "a criterion: add workers or a bigger machine"
        )
    found = outcome in ("found", "max-reached")
    return CapacityConclusion(
        outcome=outcome,
        capacity_tps=lo if found else None,
        first_failing_tps=hi,
        highest_passing_tps=lo,
        resolution_tps=(hi - lo) if outcome == "found" and hi is not None and lo is not None
        else None,
        generator_limited=outcome == "generator-limited",
        notes=notes,
    )


def step_spec(spec: ScenarioSpec, search: CapacitySearch, tps: float) -> ScenarioSpec:
    """The scenario as one step: a constant rate for step_duration, judged on the search's
    criteria (the scenario's run-wide ones when it has none)."""
    constant = spec.at_constant_rate(tps, search.step_duration)
    update: dict[str, Any] = {"capacity_search": None}
    if search.criteria:
        update["criteria"] = list(search.criteria)
    return constant.model_copy(update=update)


def step_record(index: int, step: StepResult) -> dict[str, Any]:
    """One step as capacity.json shows it."""
    observation = step.observation
    return {
        "index": index,
        "stage": observation.stage,
        "tps": observation.tps,
        "verdict": step.verdict,
        "passed": step.passed,
        "run_id": observation.run_id,
        "status": observation.status,
        "achieved_tps": observation.achieved_tps,
        "observed": observation.metrics,
        "dropped": observation.dropped,
        "lag_p99_ms": observation.lag_p99_ms,
        "lag_max_ms": observation.lag_max_ms,
        "criteria": [c.model_dump() for c in observation.criteria],
        "failed_criteria": step.failed_criteria,
        "generator_issues": step.generator_issues,
    }


def capacity_report(
    search: CapacitySearch,
    steps: Sequence[StepResult],
    *,
    search_id: str,
    scenario: str,
    target: str,
    criteria: Sequence[Criterion],
    started_at: str,
    ended_at: str,
    status: str,
    step_outputs: Sequence[str | None] = (),
    system_under_test: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """capacity.json (stresslab.capacity/v1): every step's verdict and the capacity found."""
    conclusion = conclude(search, steps)
    records = [step_record(i + 1, step) for i, step in enumerate(steps)]
    for record, outputs in zip(records, step_outputs, strict=False):
        record["outputs"] = outputs
    return {
        "schema": CAPACITY_SCHEMA,
        "search_id": search_id,
        "scenario": scenario,
        "target": target,
        "system_under_test": dict(system_under_test) if system_under_test else None,
        "started_at": started_at,
        "ended_at": ended_at,
        "status": status,
        "search": search.model_dump(mode="json", exclude={"criteria"}),
        "criteria": [c.expr if c.window_label == "run" else f"{c.expr} [{c.window_label}]"
                     for c in criteria],
        "outcome": conclusion.outcome,
        "capacity_tps": conclusion.capacity_tps,
        "first_failing_tps": conclusion.first_failing_tps,
        "highest_passing_tps": conclusion.highest_passing_tps,
        "resolution_tps": conclusion.resolution_tps,
        "generator_limited": conclusion.generator_limited,
        "notes": conclusion.notes,
        "steps": records,
    }
