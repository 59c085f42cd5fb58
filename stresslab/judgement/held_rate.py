"""The highest rate a run held: the busiest stretch of seconds in which the target kept every
run-wide criterion on its answers and the generator sent what the plan asked for; and, above it,
the first stretch that did not, with what broke there (the limit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from stresslab.judgement.capacity import LATENCY_METRICS, TARGET_METRICS
from stresslab.judgement.criteria import judge
from stresslab.judgement.summary_model import HeldRate, RateLimit
from stresslab.scenario.criteria import Criterion

HELD_WINDOW_S = 10
PACE_TOLERANCE = 0.01  # a stretch is held only if it sent within 1% of its plan


WindowMetrics = Callable[[int, int], Mapping[str, float | None]]


def judged_on_windows(criteria: Sequence[Criterion]) -> list[Criterion]:
    """The run-wide criteria on the target's answers: those a stretch of seconds can hold."""
    return [c for c in criteria
            if c.during is None and c.after is None and c.start is None and c.end is None
            and c.threshold.metric in TARGET_METRICS | LATENCY_METRICS]


def held_rate(
    planned_per_second: Sequence[float],
    metrics_for: WindowMetrics,
    criteria: Sequence[Criterion],
    window_s: int = HELD_WINDOW_S,
) -> HeldRate:
    """Slide a `window_s` stretch over the run (half a stretch at a time); a stretch holds when
    nothing was dropped, it sent within 1% of its plan and every run-wide criterion on the
    target's answers passes on its own seconds."""
    end = len(planned_per_second)
    window_s = max(1, min(window_s, end))
    judged = judged_on_windows(criteria)
    step = max(1, window_s // 2)
    starts = list(range(0, max(end - window_s, 0) + 1, step))
    if starts and starts[-1] + window_s < end:
        starts.append(end - window_s)
    best: tuple[float, int] | None = None
    failures: list[tuple[int, float, float, list[str]]] = []
    for start in starts:
        planned = sum(planned_per_second[start:start + window_s])
        if planned <= 0:
            continue
        metrics = metrics_for(start, start + window_s)
        sent = metrics.get("sent") or 0.0
        broken = _broken(metrics, planned, judged)
        if not broken:
            if best is None or sent / window_s > best[0]:
                best = (sent / window_s, start)
        else:
            failures.append((start, planned / window_s, sent / window_s, broken))
    floor = (best[0] if best else 0.0) * (1 - PACE_TOLERANCE)
    at_or_above = [f for f in failures if f[1] >= floor]
    stretches = sum(1 for start in starts
                    if sum(planned_per_second[start:start + window_s]) / window_s >= floor)
    limit = at_or_above[0] if at_or_above else None
    return HeldRate(
        tps=round(best[0], 1) if best else None,
        start_s=best[1] if best else None,
        end_s=best[1] + window_s if best else None,
        window_s=window_s,
        limit=RateLimit(start_s=limit[0], end_s=limit[0] + window_s,
                        planned_tps=round(limit[1], 1), achieved_tps=round(limit[2], 1),
                        broken=limit[3], broken_stretches=len(at_or_above),
                        of_stretches=stretches) if limit else None,
    )


def _broken(metrics: Mapping[str, float | None], planned: float,
            criteria: Sequence[Criterion]) -> list[str]:
    broken = []
    dropped = metrics.get("dropped") or 0.0
    if dropped:
        broken.append(f"{dropped:,.0f} arrivals dropped: the generator could not keep pace")
    sent = metrics.get("sent") or 0.0
    if sent < planned * (1 - PACE_TOLERANCE):
        broken.append(f"sent {sent:,.0f} of {planned:,.0f} planned")
    for criterion in criteria:
        result = judge(criterion, metrics)
        if not result.passed:
            observed = "no observation" if result.observed is None else f"{result.observed:g}"
            broken.append(f"{criterion.expr} (observed {observed})")
    return broken


def held_rate_sentence(held: HeldRate | Mapping[str, object] | None) -> str | None:
    """One plain sentence for the report and the CLI."""
    if held is None:
        return None
    value = held if isinstance(held, HeldRate) else HeldRate.model_validate(held)
    if value.tps is None:
        head = f"No {value.window_s} s stretch of this run held its criteria"
    else:
        head = (f"Highest rate held: {value.tps:,.0f} TPS for {value.window_s} s "
                f"(seconds {value.start_s}–{value.end_s}) with every run-wide criterion met")
    if value.limit is None:
        return head + "; no stretch planned at or above it broke."
    limit = value.limit
    return (f"{head}; at or above it {limit.broken_stretches} of {limit.of_stretches} "
            f"stretches did not hold, the first at seconds {limit.start_s}–{limit.end_s}: "
            f"planned {limit.planned_tps:,.0f} TPS, achieved {limit.achieved_tps:,.0f} TPS, "
            + "; ".join(limit.broken) + ".")
