"""summary.json (stresslab.summary/v1): what a run did, judged against its criteria."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stresslab.generation.plan import Plan
from stresslab.judgement.business import PriceTable, ReportedTokens, business_value
from stresslab.judgement.criteria import CriterionResult, judge
from stresslab.judgement.held_rate import WindowMetrics, held_rate
from stresslab.judgement.reconciliation import count_checks, holds
from stresslab.judgement.resilience import (
    criterion_seconds,
    error_budget_rate,
    fault_record,
    fault_windows,
    judge_per_fault,
    measure_faults,
    selects,
)
from stresslab.judgement.summary_model import (
    SUMMARY_SCHEMA,
    Accuracy,
    AgentStats,
    Business,
    Counts,
    DegradationChange,
    FaultEntry,
    InvalidResponses,
    LatencyMs,
    Load,
    RunSummary,
    ScheduleLagMs,
    WorkersReport,
    load_summary,
)
from stresslab.judgement.timeline import SecondCounts, Timeline
from stresslab.measurement.aggregate import (
    RunAggregator,
    accuracy_of,
    agents_of,
    latency_ms,
    percentiles_us,
    window_metrics,
)
from stresslab.measurement.metrics import ERROR_CLASSES, WindowStats
from stresslab.scenario.criteria import Criterion
from stresslab.scenario.spec import ScenarioSpec
from stresslab.targets.identity import TargetIdentity, identify_target
from stresslab.targets.response import MAX_SAMPLES

__all__ = [
    "SUMMARY_SCHEMA", "InvalidAnswers", "RunFacts", "RunSummary", "agent_calls_per_transaction",
    "agent_compute_ms", "build_summary",
    "criterion_window",
    "judge_criteria", "judge_run", "load_summary", "summarize_run",
]


@dataclass
class RunFacts:
    """What the runtime observed around the metrics: times, target, status, side counts."""

    run_id: str
    target: str
    started_at: str
    ended_at: str
    status: str
    target_received: int | None = None
    workers_expected: int = 0
    workers_failed: list[str] = field(default_factory=list)
    fault_windows: list[dict[str, Any]] = field(default_factory=list)
    extra_metrics: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    degradation_changes: list[dict[str, Any]] = field(default_factory=list)
    identity: TargetIdentity | None = None  # None: named from the target URL
    invalid_responses: InvalidResponses | None = None


class InvalidAnswers:
    """The workers' reports of answers without a decision, kept to MAX_SAMPLES samples."""

    def __init__(self) -> None:
        self.count = 0
        self.samples: list[str] = []

    def add(self, count: int, samples: list[str]) -> None:
        self.count += count
        self.samples = [*self.samples, *samples][:MAX_SAMPLES]

    def report(self) -> InvalidResponses | None:
        return InvalidResponses(count=self.count, samples=self.samples) if self.count else None


def criterion_window(criterion: Criterion, spec: ScenarioSpec) -> tuple[int, int] | None:
    """Seconds [start, end) a criterion is judged over; None for the whole run.

    A per-fault criterion is judged on each fault's own (observed) window by the summary;
    here it gets the planned seconds that hold every fault it selects, for live views.
    """
    if criterion.fault is not None:
        return _planned_fault_window(criterion, spec)
    if criterion.phase is not None:
        window = spec.profile().phase_window(criterion.phase)
        if window is None:
            return None
        return math.floor(window[0]), math.ceil(window[1])
    if criterion.start is not None or criterion.end is not None:
        start = math.floor(criterion.start or 0.0)
        end = math.ceil(criterion.end if criterion.end is not None else spec.duration)
        return start, end
    return None


def _planned_fault_window(criterion: Criterion, spec: ScenarioSpec) -> tuple[int, int]:
    fault = criterion.fault
    if fault is None:
        return 0, 0
    planned = fault_windows(
        [{"type": f.type, "label": f.label, "target": f.target, "planned_start_s": f.at,
          "planned_end_s": f.end} for f in sorted(spec.faults, key=lambda f: f.at)],
        spec.duration,
    )
    run_end = math.ceil(spec.duration)
    kind, ref = fault
    spans = [criterion_seconds(kind, ref, w, planned, run_end)
             for w in planned if selects(ref, w)]
    if not spans:
        return 0, 0
    return min(start for start, _ in spans), max(end for _, end in spans)


def run_timeline(aggregator: RunAggregator, duration: float) -> Timeline:
    """The per-second counts resilience is measured on, straight from the aggregator."""
    seconds = {}
    for second, stats in aggregator.seconds.items():
        p95 = percentiles_us(stats.latency, (95,))[0] / 1000.0 \
            if stats.latency.get_total_count() else None
        seconds[second] = SecondCounts(
            sent=stats.sent, ok=stats.ok, failed=stats.error_total + stats.timeouts,
            dropped=stats.dropped, p95_ms=p95, labelled=stats.tp + stats.fp + stats.tn + stats.fn,
            correct=stats.tp + stats.tn,
        )
    return Timeline(seconds, max(math.ceil(duration), max(seconds, default=-1) + 1))


def stretch_metrics(aggregator: RunAggregator, timeline: Timeline) -> WindowMetrics:
    """The criteria's metrics for any stretch of seconds [start, end) of the run; `lost` from
    the timeline, so requests still in flight at the stretch's end are not lost."""
    def metrics_for(start: int, end: int) -> dict[str, float | None]:
        metrics = window_metrics(
            aggregator.window(start, end), end - start, aggregator.expected_between(start, end),
            None, {"latency_drift_pct": aggregator.latency_drift_pct(start, end)},
        )
        metrics["lost"] = float(timeline.lost_between(start, end))
        return metrics
    return metrics_for


@dataclass
class Verdicts:
    """Every criterion's result in the scenario's order, and the faults' entries."""

    criteria: list[CriterionResult]
    faults: list[dict[str, Any]]


def judge_run(spec: ScenarioSpec, aggregator: RunAggregator, facts: RunFacts) -> Verdicts:
    """Judge the criteria (per fault for fault criteria) and measure each fault."""
    duration = spec.duration
    timeline = run_timeline(aggregator, duration)
    measurements = measure_faults(
        facts.fault_windows, timeline, spec.resilience, time_scale=spec.time_scale,
        budget_rate=error_budget_rate(spec.criteria),
    )

    metrics_for = stretch_metrics(aggregator, timeline)
    seconds = math.ceil(duration)
    run_metrics = window_metrics(
        aggregator.totals, duration, aggregator.expected_between(0, seconds),
        facts.target_received,
        {**facts.extra_metrics, "latency_drift_pct": aggregator.latency_drift_pct(0, seconds)},
    )
    results: list[CriterionResult] = []
    per_fault: list[list[CriterionResult]] = [[] for _ in measurements]
    for criterion in spec.criteria:
        if criterion.fault is not None:
            for index, result in judge_per_fault(criterion, measurements, metrics_for,
                                                 timeline.end):
                per_fault[index].append(result)
                results.append(result)
            continue
        window = criterion_window(criterion, spec)
        results.append(judge(criterion, run_metrics if window is None else metrics_for(*window)))
    faults = [fault_record(m, verdicts) for m, verdicts in zip(measurements, per_fault,
                                                                strict=True)]
    return Verdicts(results, faults)


def judge_criteria(
    spec: ScenarioSpec, aggregator: RunAggregator, facts: RunFacts
) -> list[CriterionResult]:
    return judge_run(spec, aggregator, facts).criteria


def summarize_run(
    spec: ScenarioSpec,
    plan: Plan,
    aggregator: RunAggregator,
    facts: RunFacts,
    prices: PriceTable,
    usd_to_currency: float,
) -> RunSummary:
    """The run's summary.json, typed."""
    totals = aggregator.totals
    identity = facts.identity or identify_target(facts.target)
    duration = spec.duration
    planned = plan.scheduled_total
    target_tps = planned / duration if duration else 0.0
    achieved = totals.sent / duration if duration else 0.0
    errors = totals.error_total
    agents = agents_of(totals)
    compute_ms = _compute_ms(agents, latency_ms(totals)["avg"])
    verdicts = judge_run(spec, aggregator, facts)
    results = verdicts.criteria
    by_class = {name: totals.errors[name] for name in ERROR_CLASSES}
    reconciled = holds(count_checks(
        scheduled=totals.scheduled, sent=totals.sent, dropped=totals.dropped, ok=totals.ok,
        errors=errors, timeouts=totals.timeouts, undelivered=totals.undelivered,
        target_received=facts.target_received, errors_by_class=by_class))
    finished = sorted(w for w, state in aggregator.workers.items() if state.finished)
    faults = [FaultEntry.model_validate(fault) for fault in verdicts.faults]
    seconds = math.ceil(duration)
    held = held_rate([aggregator.expected_between(s, s + 1) for s in range(seconds)],
                     stretch_metrics(aggregator, run_timeline(aggregator, duration)),
                     spec.criteria)
    return RunSummary(
        run_id=facts.run_id,
        scenario=spec.name,
        description=spec.description,
        target=facts.target,
        system_under_test=identity,
        started_at=facts.started_at,
        ended_at=facts.ended_at,
        duration_s=duration,
        time_scale=spec.time_scale,
        load_scale=spec.load_scale,
        seed=spec.seed,
        workers=plan.shards,
        status=facts.status,
        load=Load(
            target_tps_avg=round(target_tps, 3),
            achieved_tps_avg=round(achieved, 3),
            peak_tps=aggregator.seconds.peak_sent(),
            rate_error_pct=round((achieved - target_tps) / target_tps * 100, 3)
            if target_tps else None,
            planned=planned,
        ),
        held_rate=held,
        counts=Counts(
            scheduled=totals.scheduled,
            sent=totals.sent,
            ok=totals.ok,
            errors=errors,
            timeouts=totals.timeouts,
            dropped=totals.dropped,
            undelivered=totals.undelivered,
            target_received=facts.target_received,
            errors_by_class=by_class,
            reconciled=reconciled,
            duplicate_batches=aggregator.duplicates,
        ),
        invalid_responses=facts.invalid_responses,
        latency_ms=LatencyMs.model_validate(latency_ms(totals)),
        schedule_lag_ms=ScheduleLagMs(
            p50=totals.lag.get_value_at_percentile(50) / 1000.0,
            p99=totals.lag.get_value_at_percentile(99) / 1000.0,
            max=totals.lag.get_max_value() / 1000.0,
        ) if totals.lag.get_total_count() else None,
        accuracy=Accuracy.model_validate(accuracy_of(totals)),
        decisions=dict(sorted(totals.decisions.items())),
        business=Business.model_validate(business_value(
            table=prices, processed=totals.ok, fraud_detected=totals.tp,
            prevented_usd=totals.fraud_prevented, missed_usd=totals.fraud_missed,
            false_positive_usd=totals.false_positive, compute_ms=compute_ms,
            agent_calls=agent_calls_per_transaction(agents, totals.ok),
            reported=reported_tokens(totals), declared_by_stand_in=identity.reference,
            currency=spec.reporting_currency, usd_to_currency=usd_to_currency,
        )),
        agents={name: AgentStats.model_validate(agent) for name, agent in agents.items()},
        faults=faults,
        workers_report=WorkersReport(
            expected=facts.workers_expected, finished=len(finished),
            failed=facts.workers_failed,
        ),
        notes=[*facts.notes, *undelivered_notes(totals, spec),
               *answer_bound_notes(totals, spec)],
        degradation=[DegradationChange.model_validate(c) for c in facts.degradation_changes],
        criteria=results,
        passed=facts.status == "completed" and reconciled and all(r.passed for r in results)
        and all(fault.passed is not False for fault in faults),
    )


def build_summary(
    spec: ScenarioSpec,
    plan: Plan,
    aggregator: RunAggregator,
    facts: RunFacts,
    prices: PriceTable,
    usd_to_currency: float,
) -> dict[str, Any]:
    """The run's summary as summary.json holds it (see summarize_run for the typed one)."""
    return summarize_run(spec, plan, aggregator, facts, prices, usd_to_currency).to_json_dict()


def undelivered_notes(totals: WindowStats, spec: ScenarioSpec) -> list[str]:
    """Requests counted as sent (and as timeouts or errors) that the target never saw."""
    if not totals.undelivered:
        return []
    return [f"{totals.undelivered:,} requests never reached the target: they waited longer than "
            f"the timeout for one of the {spec.http.connections} connections (http.connections), "
            "or no connection could be opened; they count as timeouts or connection errors, "
            "and target_received is compared with sent - undelivered"]


def answer_bound_notes(totals: WindowStats, spec: ScenarioSpec) -> list[str]:
    """One note per bound the target's answers hit, so a hostile or chatty target shows."""
    response, notes = spec.response, []
    limit = spec.http.max_body_bytes
    size = f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
    if totals.errors["oversized"]:
        notes.append(f"{totals.errors['oversized']} answers larger than {size} counted as "
                     "'oversized' errors (http.max_body_bytes)")
    if totals.decisions_folded:
        notes.append(f"{totals.decisions_folded} decisions beyond the first "
                     f"{response.max_decisions} distinct values counted as 'other' "
                     "(response.max_decisions)")
    if totals.agents_folded:
        notes.append(f"{totals.agents_folded} agent reports beyond the first "
                     f"{response.max_agents} agent names counted as 'other' "
                     "(response.max_agents)")
    if totals.names_cleaned:
        notes.append(f"{totals.names_cleaned} names from the target cleaned (markup, control "
                     f"characters, over {response.max_name_length} chars)")
    return notes


def agent_compute_ms(agents: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Platform compute per transaction from the agents' own times; None when none reported."""
    timed = [a["avg_ms"] * a["calls"] for a in agents.values() if a.get("avg_ms") is not None]
    calls = max((a["calls"] for a in agents.values()), default=0)
    return sum(timed) / calls if timed and calls else None


def reported_tokens(totals: WindowStats) -> ReportedTokens:
    """The model tokens the target's answers reported (its `usage`), for pricing."""
    return ReportedTokens(totals.usage_answers, totals.input_tokens, totals.output_tokens,
                          totals.modelled_usage_answers)


def agent_calls_per_transaction(agents: Mapping[str, Mapping[str, Any]], ok: int) -> float:
    """Agent calls the target reported per decided transaction (0 when it reports none)."""
    return sum(a["calls"] for a in agents.values()) / ok if ok else 0.0


def _compute_ms(
    agents: Mapping[str, Mapping[str, Any]], end_to_end_ms: float | None
) -> float | None:
    """Platform compute per transaction: the agents' own times when reported, else end to end."""
    from_agents = agent_compute_ms(agents)
    return end_to_end_ms if from_agents is None else from_agents
