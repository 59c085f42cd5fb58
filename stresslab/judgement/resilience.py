"""Resilience per fault: the baseline before it, time to detect and recover, cost, verdict."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stresslab.judgement.criteria import CriterionResult, judge
from stresslab.judgement.timeline import SecondCounts, Timeline
from stresslab.scenario.criteria import Criterion, FaultPhase, FaultRef
from stresslab.scenario.settings import ResilienceSettings

DEFAULT_ERROR_BUDGET = 0.001
_EPSILON = 1e-9

MetricsFor = Callable[[int, int], Mapping[str, float | None]]


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultWindow:
    """A fault as the runtime recorded it; times in seconds from the run's start."""

    number: int
    type: str
    label: str
    target: str | None
    start_s: float | None
    end_s: float | None
    status: str = ""
    planned: bool = False
    record: Mapping[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.start_s is not None and self.end_s is not None

    @property
    def title(self) -> str:
        return f"fault {self.number} ({self.label or self.type})"

    @property
    def seconds(self) -> tuple[int, int]:
        """The seconds it touched, [first, last)."""
        start, end = self.start_s or 0.0, self.end_s or 0.0
        first = math.floor(start + _EPSILON)
        return first, max(math.ceil(end - _EPSILON), first + 1)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fault_windows(records: Sequence[Mapping[str, Any]], run_end_s: float) -> list[FaultWindow]:
    """The runtime's fault records, numbered from 1 in their order (the plan's, by start time,
    then faults injected by hand). A record without observed times (`start_s`) is measured on
    its planned ones; one whose `start_s` is null was never injected; one still active when
    the run ended is taken to end there."""
    windows = []
    for position, record in enumerate(records, start=1):
        number = record.get("number")
        planned = "start_s" not in record
        start = _number(record.get("planned_start_s" if planned else "start_s"))
        end = _number(record.get("planned_end_s" if planned else "end_s"))
        if start is not None and (end is None or end < start):
            end = max(run_end_s, start)
        target = record.get("target")
        windows.append(FaultWindow(
            number=number if isinstance(number, int) and number > 0 else position,
            type=str(record.get("type") or "fault"), label=str(record.get("label") or ""),
            target=None if target is None else str(target), start_s=start, end_s=end,
            status=str(record.get("status") or ""), planned=planned and start is not None,
            record=record,
        ))
    return windows


@dataclass(frozen=True)
class Baseline:
    """The clean seconds before a fault and what they measured (None: no baseline)."""

    seconds: tuple[int, ...] = ()
    error_rate: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class Limits:
    """What a second may show and still count as within the baseline."""

    error_rate: float
    p95_ms: float | None

    @classmethod
    def around(cls, baseline: Baseline, settings: ResilienceSettings) -> Limits:
        if baseline.error_rate is None:  # no baseline: judged against a clean target
            return cls(settings.error_tolerance, None)
        p95 = None
        if baseline.p95_ms is not None:
            p95 = max(baseline.p95_ms * (1 + settings.latency_tolerance),
                      baseline.p95_ms + settings.latency_slack_ms)
        return cls(baseline.error_rate + settings.error_tolerance, p95)

    def breached(self, counts: SecondCounts) -> bool | None:
        """True outside the limits (or nothing came back of what was sent), None for a
        second with no traffic at all."""
        if counts.answered == 0:
            return None if counts.sent == 0 else True
        if counts.failed / counts.answered > self.error_rate + _EPSILON:
            return True
        return self.p95_ms is not None and counts.p95_ms is not None \
            and counts.p95_ms > self.p95_ms


@dataclass(frozen=True)
class FaultMeasurement:
    """One fault's numbers; the verdict also needs its criteria (see `fault_record`)."""

    fault: FaultWindow
    baseline: Baseline = Baseline()
    detected_at_s: float | None = None
    recovered_at_s: float | None = None
    span: tuple[int, int] = (0, 0)
    affected: int = 0
    dropped: int = 0
    lost: int = 0
    error_budget_spent_pct: float | None = None
    accuracy_before: float | None = None
    accuracy_during: float | None = None
    accuracy_after: float | None = None

    @property
    def time_to_detect_s(self) -> float | None:
        if self.detected_at_s is None or self.fault.start_s is None:
            return None
        return round(max(self.detected_at_s - self.fault.start_s, 0.0), 3)

    @property
    def time_to_recover_s(self) -> float | None:
        if self.recovered_at_s is None or self.fault.end_s is None:
            return None
        return round(max(self.recovered_at_s - self.fault.end_s, 0.0), 3)

    @property
    def recovered(self) -> bool:
        return self.recovered_at_s is not None


def error_budget_rate(criteria: Sequence[Criterion]) -> float:
    """The run's allowed error rate: its run-wide `error_rate < X`, else any other window's
    (not a fault's), else 0.1%."""
    bounds = [c for c in criteria if c.fault is None and c.threshold.metric == "error_rate"
              and c.threshold.op in ("<", "<=")]
    chosen = [c for c in bounds if c.run_wide] or bounds
    return chosen[0].threshold.value if chosen else DEFAULT_ERROR_BUDGET


def _accuracy(counts: SecondCounts) -> float | None:
    return counts.correct / counts.labelled if counts.labelled else None


def _baseline(
    timeline: Timeline, before: int, settings: ResilienceSettings, excluded: set[int]
) -> Baseline:
    wanted = max(1, math.floor(settings.baseline + _EPSILON))
    warmup = math.ceil(settings.warmup - _EPSILON)
    picked: list[int] = []
    second = before - 1
    while second >= warmup and len(picked) < wanted:
        if second not in excluded and timeline.at(second).answered > 0:
            picked.append(second)
        second -= 1
    picked.reverse()
    if len(picked) < math.ceil(settings.min_baseline - _EPSILON):
        return Baseline(tuple(picked))
    total = timeline.total(picked)
    p95s = [p for p in (timeline.at(s).p95_ms for s in picked) if p is not None]
    # the median second: one slow second (a GC pause) must not move the baseline
    return Baseline(tuple(picked), total.failed / total.answered,
                    statistics.median(p95s) if p95s else None)


def _streak_start(timeline: Timeline, limits: Limits, begin: int, length: int) -> int | None:
    streak = 0
    for second in range(max(begin, 0), timeline.end):
        streak = streak + 1 if limits.breached(timeline.at(second)) is False else 0
        if streak == length:
            return second - length + 1
    return None


def _after_end(fault: FaultWindow, windows: Sequence[FaultWindow], start: int, end: int) -> int:
    """`end`, or earlier if another fault starts first."""
    for other in windows:
        if other is fault or not other.measured or other.start_s is None:
            continue
        other_first = other.seconds[0]
        if (fault.start_s or 0.0) < other.start_s and start <= other_first < end:
            end = other_first
    return end


@dataclass(frozen=True)
class _Context:
    timeline: Timeline
    settings: ResilienceSettings
    recovery_n: int
    budget: float | None


def _measure(
    fault: FaultWindow, windows: Sequence[FaultWindow], context: _Context, excluded: set[int]
) -> FaultMeasurement:
    timeline, settings = context.timeline, context.settings
    first, last = fault.seconds
    baseline = _baseline(timeline, first, settings, excluded)
    limits = Limits.around(baseline, settings)
    n = context.recovery_n
    detected = next((s for s in range(first, min(last + n, timeline.end))
                     if limits.breached(timeline.at(s))), None)
    if detected is None:  # it never left its baseline: nothing to recover from
        recovered_at: float | None = fault.end_s
        span = (first, last)
    else:
        begin = max(math.floor((fault.end_s or 0.0) + _EPSILON), detected + 1)
        streak = _streak_start(timeline, limits, begin, n)
        recovered_at = None if streak is None else float(streak)
        span = (first, max(last, streak if streak is not None else timeline.end))
    affected = timeline.total(range(*span))
    after_length = max(1, math.floor(settings.baseline + _EPSILON))
    after_end = _after_end(fault, windows, last, min(last + after_length, timeline.end))
    spent = None
    if context.budget:
        spent = round(affected.failed / context.budget * 100, 3)
    return FaultMeasurement(
        fault=fault, baseline=baseline,
        detected_at_s=None if detected is None else float(detected + 1),
        recovered_at_s=recovered_at, span=span, affected=affected.failed,
        dropped=affected.dropped, lost=timeline.lost_between(*span),
        error_budget_spent_pct=spent,
        accuracy_before=_accuracy(timeline.total(baseline.seconds)),
        accuracy_during=_accuracy(timeline.total(range(first, last))),
        accuracy_after=_accuracy(timeline.total(range(last, after_end))),
    )


def measure_faults(
    records: Sequence[Mapping[str, Any]],
    timeline: Timeline,
    settings: ResilienceSettings | None = None,
    *,
    time_scale: float = 1.0,
    budget_rate: float = DEFAULT_ERROR_BUDGET,
) -> list[FaultMeasurement]:
    """Each fault's measurements, in the records' order.

    - baseline: up to `baseline` clean seconds before the fault (not in the run's warm-up,
      in another fault's window, or in an earlier fault's span up to its recovery);
      fewer than `min_baseline` of them: no baseline, and the fault is judged against a
      clean target (error rate within the tolerance; latency not judged);
    - detected: at the end of the first second, from the fault's start until N seconds after
      its end, whose error rate or p95 breaches the baseline's limits;
    - recovered: at the start of the first N consecutive seconds back within the limits,
      from the fault's end on (a fault that never breached recovered as it ended); only the
      worse side counts: fewer errors or faster answers than the baseline are within it;
    - affected: errors and timeouts from the fault's start until its recovery (or the run's
      end, or the fault's end if it never breached), against the run's error budget;
    - lost: see `Timeline.lost_between`; accuracy before (the baseline seconds), during (the
      fault's seconds) and after (as long as the baseline, until the next fault starts).

    Faults that overlap share their seconds: each is charged with what they did together.
    """
    settings = settings or ResilienceSettings()
    windows = fault_windows(records, timeline.end)
    run_sent = timeline.total(range(timeline.end)).sent
    context = _Context(timeline, settings, settings.recovery_seconds(time_scale),
                       budget_rate * run_sent if budget_rate > 0 and run_sent else None)
    measured = sorted((i for i, w in enumerate(windows) if w.measured),
                      key=lambda i: windows[i].start_s or 0.0)
    results: dict[int, FaultMeasurement] = {}
    for index in measured:
        excluded: set[int] = set()
        for other in measured:
            if other != index:
                excluded.update(range(*windows[other].seconds))
        for done in results.values():
            excluded.update(range(*done.span))
        results[index] = _measure(windows[index], windows, context, excluded)
    return [results.get(i) or FaultMeasurement(fault=w) for i, w in enumerate(windows)]


# --------------------------------------------------------------------------- criteria


def selects(ref: FaultRef, fault: FaultWindow) -> bool:
    if ref.which is None:
        return True
    if isinstance(ref.which, int):
        return fault.number == ref.which
    return fault.label.strip().casefold() == ref.which.strip().casefold()


def criterion_seconds(
    kind: FaultPhase, ref: FaultRef, fault: FaultWindow, windows: Sequence[FaultWindow],
    run_end: int,
) -> tuple[int, int]:
    """The seconds a fault criterion is judged on.

    `during`: every second the fault touched, [floor(start), ceil(end)). `after: fault + D`:
    the D seconds from the first whole second after its end, [ceil(end), ceil(end + D));
    `after: fault` without an offset: from there until the next fault starts or the run ends.
    """
    first, last = fault.seconds
    if kind == "during":
        return first, min(last, run_end)
    if ref.offset_s is not None:
        end = math.ceil((fault.end_s or 0.0) + ref.offset_s - _EPSILON)
    else:
        end = _after_end(fault, windows, last, run_end)
    return last, max(min(end, run_end), last)


def window_label(kind: FaultPhase, ref: FaultRef, fault: FaultWindow) -> str:
    """`fault 1 (Lambda function crashes)`, `... + 60s`, or `after fault 1 (...)`."""
    if kind == "during":
        return fault.title
    if ref.offset_s is not None:
        return f"{fault.title} + {ref.offset_s:g}s"
    return f"after {fault.title}"


def judge_per_fault(
    criterion: Criterion, measurements: Sequence[FaultMeasurement], metrics_for: MetricsFor,
    run_end: int,
) -> list[tuple[int, CriterionResult]]:
    """(index of the fault, verdict) for each fault the criterion selects; a fault that was
    never injected fails it (nothing was observed)."""
    fault_phase = criterion.fault
    if fault_phase is None:
        return []
    kind, ref = fault_phase
    windows = [m.fault for m in measurements]
    verdicts = []
    for index, fault in enumerate(windows):
        if not selects(ref, fault):
            continue
        label = window_label(kind, ref, fault)
        if not fault.measured:
            verdicts.append((index, CriterionResult(
                expr=criterion.expr, window=f"{label}: not injected", passed=False,
                observed=None)))
            continue
        start, end = criterion_seconds(kind, ref, fault, windows, run_end)
        metrics = dict(metrics_for(start, end))
        if kind == "during":
            metrics["lost"] = float(measurements[index].lost)
        verdict = judge(criterion, metrics)
        verdicts.append((index, verdict.model_copy(update={"window": label})))
    return verdicts


def fault_passed(measurement: FaultMeasurement, criteria: Sequence[CriterionResult]
                 ) -> bool | None:
    """Recovered, nothing lost, and its own criteria met; None when it was never injected."""
    if not measurement.fault.measured:
        return None
    return measurement.recovered and measurement.lost == 0 and all(c.passed for c in criteria)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def fault_record(
    measurement: FaultMeasurement, criteria: Sequence[CriterionResult] = ()
) -> dict[str, Any]:
    """The fault's entry in summary.json: the runtime's record plus the measurements."""
    fault, baseline = measurement.fault, measurement.baseline
    measured = fault.measured
    return {
        **fault.record,
        "number": fault.number,
        "type": fault.type,
        "label": fault.label,
        "target": fault.target,
        "start_s": fault.start_s,
        "end_s": fault.end_s,
        "timing": ("planned" if fault.planned else "observed") if measured else None,
        "time_to_detect_s": measurement.time_to_detect_s,
        "time_to_recover_s": measurement.time_to_recover_s,
        "detected_at_s": measurement.detected_at_s,
        "recovered_at_s": measurement.recovered_at_s,
        "affected": measurement.affected if measured else None,
        "lost": measurement.lost if measured else None,
        "dropped": measurement.dropped if measured else None,
        "error_budget_spent_pct": measurement.error_budget_spent_pct,
        "accuracy_before": _round(measurement.accuracy_before),
        "accuracy_during": _round(measurement.accuracy_during),
        "accuracy_after": _round(measurement.accuracy_after),
        "baseline": {
            "seconds": len(baseline.seconds),
            "error_rate": _round(baseline.error_rate),
            "p95_ms": _round(baseline.p95_ms, 3),
        } if measured else None,
        "criteria": [c.model_dump() for c in criteria],
        "passed": fault_passed(measurement, criteria),
    }
