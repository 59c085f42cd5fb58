"""summary.json (stresslab.summary/v1): what a run did, judged against its criteria."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stresslab.aggregate import (
    RunAggregator,
    accuracy_of,
    agents_of,
    latency_ms,
    window_metrics,
)
from stresslab.business import PriceTable, business_value
from stresslab.criteria import Criterion, CriterionResult, judge
from stresslab.metrics import ERROR_CLASSES
from stresslab.plan import Plan
from stresslab.spec import ScenarioSpec

SUMMARY_SCHEMA = "stresslab.summary/v1"


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


def criterion_window(criterion: Criterion, spec: ScenarioSpec) -> tuple[int, int] | None:
    """Seconds [start, end) a criterion is judged over; None for the whole run."""
    if criterion.during is not None:
        window = spec.profile().phase_window(criterion.during)
        if window is None:
            return None
        return math.floor(window[0]), math.ceil(window[1])
    if criterion.start is not None or criterion.end is not None:
        start = math.floor(criterion.start or 0.0)
        end = math.ceil(criterion.end if criterion.end is not None else spec.duration)
        return start, end
    return None


def judge_criteria(
    spec: ScenarioSpec, aggregator: RunAggregator, facts: RunFacts
) -> list[CriterionResult]:
    results = []
    duration = spec.duration
    seconds = math.ceil(duration)
    run_metrics = window_metrics(
        aggregator.totals, duration, aggregator.expected_between(0, seconds),
        facts.target_received,
        {**facts.extra_metrics, "latency_drift_pct": aggregator.latency_drift_pct(0, seconds)},
    )
    for criterion in spec.criteria:
        window = criterion_window(criterion, spec)
        if window is None:
            results.append(judge(criterion, run_metrics))
            continue
        start, end = window
        metrics = window_metrics(
            aggregator.window(start, end), end - start, aggregator.expected_between(start, end),
            None, {"latency_drift_pct": aggregator.latency_drift_pct(start, end)},
        )
        results.append(judge(criterion, metrics))
    return results


def build_summary(
    spec: ScenarioSpec,
    plan: Plan,
    aggregator: RunAggregator,
    facts: RunFacts,
    prices: PriceTable,
    usd_to_currency: float,
) -> dict[str, Any]:
    totals = aggregator.totals
    duration = spec.duration
    planned = plan.scheduled_total
    target_tps = planned / duration if duration else 0.0
    achieved = totals.sent / duration if duration else 0.0
    errors = totals.error_total
    agents = agents_of(totals)
    compute_ms = _compute_ms(agents, latency_ms(totals)["avg"])
    results = judge_criteria(spec, aggregator, facts)
    reconciled = _reconciled(totals.scheduled, totals.sent, totals.dropped, totals.ok, errors,
                             totals.timeouts, facts.target_received)
    finished = sorted(w for w, state in aggregator.workers.items() if state.finished)
    return {
        "schema": SUMMARY_SCHEMA,
        "run_id": facts.run_id,
        "scenario": spec.name,
        "description": spec.description,
        "target": facts.target,
        "started_at": facts.started_at,
        "ended_at": facts.ended_at,
        "duration_s": duration,
        "time_scale": spec.time_scale,
        "load_scale": spec.load_scale,
        "seed": spec.seed,
        "workers": plan.shards,
        "status": facts.status,
        "load": {
            "target_tps_avg": round(target_tps, 3),
            "achieved_tps_avg": round(achieved, 3),
            "peak_tps": max((s.sent for s in aggregator.seconds.values()), default=0),
            "rate_error_pct": round((achieved - target_tps) / target_tps * 100, 3)
            if target_tps else None,
            "planned": planned,
        },
        "counts": {
            "scheduled": totals.scheduled,
            "sent": totals.sent,
            "ok": totals.ok,
            "errors": errors,
            "timeouts": totals.timeouts,
            "dropped": totals.dropped,
            "target_received": facts.target_received,
            "errors_by_class": {name: totals.errors[name] for name in ERROR_CLASSES},
            "reconciled": reconciled,
            "duplicate_batches": aggregator.duplicates,
        },
        "latency_ms": latency_ms(totals),
        "schedule_lag_ms": {
            "p50": totals.lag.get_value_at_percentile(50) / 1000.0,
            "p99": totals.lag.get_value_at_percentile(99) / 1000.0,
            "max": totals.lag.get_max_value() / 1000.0,
        } if totals.lag.get_total_count() else None,
        "accuracy": accuracy_of(totals),
        "decisions": dict(sorted(totals.decisions.items())),
        "business": business_value(
            table=prices, processed=totals.ok, fraud_detected=totals.tp,
            prevented_usd=totals.fraud_prevented, missed_usd=totals.fraud_missed,
            false_positive_usd=totals.false_positive, compute_ms=compute_ms,
            currency=spec.reporting_currency, usd_to_currency=usd_to_currency,
        ),
        "agents": agents,
        "faults": facts.fault_windows,
        "workers_report": {
            "expected": facts.workers_expected,
            "finished": len(finished),
            "failed": facts.workers_failed,
        },
        "notes": facts.notes,
        "criteria": [result.model_dump() for result in results],
        "passed": facts.status == "completed" and reconciled and all(r.passed for r in results),
    }


def _compute_ms(
    agents: Mapping[str, Mapping[str, Any]], end_to_end_ms: float | None
) -> float | None:
    """Platform compute per transaction: the agents' own times when reported, else end to end."""
    timed = [a["avg_ms"] * a["calls"] for a in agents.values() if a.get("avg_ms") is not None]
    calls = max((a["calls"] for a in agents.values()), default=0)
    if timed and calls:
        return sum(timed) / calls
    return end_to_end_ms


def _reconciled(
    scheduled: int, sent: int, dropped: int, ok: int, errors: int, timeouts: int,
    target_received: int | None,
) -> bool:
    return (
        scheduled == sent + dropped
        and sent == ok + errors + timeouts
        and (target_received is None or target_received == sent)
    )
