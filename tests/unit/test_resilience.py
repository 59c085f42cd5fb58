"""Resilience per fault, on synthetic per-second series: detect, recover, cost, verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stresslab.generation.plan import plan_run
from stresslab.judgement.business import load_price_table
from stresslab.judgement.criteria import CriterionResult
from stresslab.judgement.resilience import (
    DEFAULT_ERROR_BUDGET,
    FaultMeasurement,
    error_budget_rate,
    fault_record,
    fault_windows,
    judge_per_fault,
    measure_faults,
)
from stresslab.judgement.summary import RunFacts, build_summary, criterion_window
from stresslab.judgement.timeline import Timeline
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.criteria import Criterion
from stresslab.scenario.settings import ResilienceSettings
from stresslab.scenario.spec import parse_scenario

TPS = 100


def second(n: int, *, sent: int = TPS, errors: int = 0, timeouts: int = 0, p95: float = 10.0,
           answered: int | None = None, correct_share: float = 0.95) -> dict[str, Any]:
    answered = sent if answered is None else answered
    ok = answered - errors - timeouts
    correct = round(ok * correct_share)
    return {"second": n, "sent": sent, "ok": ok, "errors": errors, "timeouts": timeouts,
            "dropped": 0, "p95_ms": p95 if ok else None, "labelled": ok,
            "tp": correct // 10, "tn": correct - correct // 10, "fp": ok - correct, "fn": 0}


def series(length: int, **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """A clean run of `length` seconds; changes["s12"] = {"errors": 50} alters second 12."""
    rows = []
    for n in range(length):
        rows.append(second(n, **changes.get(f"s{n}", {})))
    return rows


def with_errors(rows: list[dict[str, Any]], seconds: range, errors: int) -> None:
    for n in seconds:
        rows[n] = second(n, errors=errors)


def fault(start: float, end: float | None, label: str = "Lambda function crashes",
          **extra: Any) -> dict[str, Any]:
    return {"type": "agent_errors", "label": label, "target": "pattern_velocity",
            "intensity": 0.5, "planned_start_s": round(start), "planned_end_s": round(end or 0),
            "start_s": start, "end_s": end, "status": "cleared", **extra}


def measure(rows: list[dict[str, Any]], faults: list[dict[str, Any]],
            **kwargs: Any) -> list[FaultMeasurement]:
    return measure_faults(faults, Timeline.from_rows(rows), **kwargs)


# --------------------------------------------------------------------------- detect, recover


def test_an_error_fault_is_detected_in_its_first_second_and_recovers_after_it_ends():
    # Given 50% errors from 20 s to 30 s of a clean 60 s run, the fault on 20.3-30.4
    rows = series(60)
    with_errors(rows, range(20, 31), 50)
    # When measured
    (m,) = measure(rows, [fault(20.3, 30.4)])
    # Then detected at the end of second 20, recovered when second 31 starts
    assert m.time_to_detect_s == pytest.approx(0.7)
    assert m.time_to_recover_s == pytest.approx(0.6)
    assert m.affected == 11 * 50 and m.lost == 0
    assert m.baseline.error_rate == 0 and m.baseline.p95_ms == 10.0
    assert len(m.baseline.seconds) == 19  # 1..19: the run's first second is left out
    record = fault_record(m)
    assert record["passed"] is True and record["timing"] == "observed"
    assert record["status"] == "cleared" and record["planned_start_s"] == 20


def test_a_latency_fault_is_detected_on_p95_and_recovers_when_the_backlog_drains():
    # Given p95 at 300 ms during 10-20 s and for 3 s after, against a 10 ms baseline
    rows = series(60)
    for n in range(10, 23):
        rows[n]["p95_ms"] = 300.0
    (m,) = measure(rows, [fault(10.0, 20.0)])
    assert m.time_to_detect_s == 1.0
    assert m.time_to_recover_s == 3.0
    assert m.affected == 0 and fault_record(m)["passed"] is True


def test_small_latency_moves_are_noise_not_breaches():
    # Given p95 from 10 to 30 ms (within the 25 ms slack) during the fault
    rows = series(40)
    for n in range(10, 20):
        rows[n]["p95_ms"] = 30.0
    (m,) = measure(rows, [fault(10.0, 20.0)])
    assert m.time_to_detect_s is None
    # And with a tighter slack it is detected
    (tight,) = measure(rows, [fault(10.0, 20.0)],
                       settings=ResilienceSettings(latency_slack_ms=5))
    assert tight.time_to_detect_s == 1.0


def test_a_fault_that_never_recovers_fails():
    # Given errors from the fault's start to the end of the run
    rows = series(40)
    with_errors(rows, range(10, 40), 30)
    (m,) = measure(rows, [fault(10.0, 20.0)])
    assert m.time_to_detect_s == 1.0
    assert m.time_to_recover_s is None
    assert m.span == (10, 40) and m.affected == 30 * 30
    record = fault_record(m)
    assert record["passed"] is False and record["time_to_recover_s"] is None


def test_recovery_needs_n_consecutive_clean_seconds():
    # Given a clean second between two bad ones after the fault ends
    rows = series(60)
    with_errors(rows, range(10, 20), 50)
    with_errors(rows, range(21, 22), 50)
    (m,) = measure(rows, [fault(10.0, 20.0)], settings=ResilienceSettings(recover_for=5))
    assert m.recovered_at_s == 22.0 and m.time_to_recover_s == 2.0
    # And a run that ends before N clean seconds never confirms it
    (short,) = measure(rows[:25], [fault(10.0, 20.0)],
                       settings=ResilienceSettings(recover_for=5))
    assert short.time_to_recover_s is None


def test_a_fault_without_effect_is_not_detected_and_needs_no_recovery():
    (m,) = measure(series(40), [fault(10.0, 20.0)])
    assert m.time_to_detect_s is None
    assert m.time_to_recover_s == 0.0
    assert m.affected == 0 and m.span == (10, 20)
    assert fault_record(m)["passed"] is True


def test_a_second_with_nothing_answered_is_a_breach():
    rows = series(30)
    rows[12] = second(12, answered=0)
    rows[13] = second(13, answered=2 * TPS)
    (m,) = measure(rows, [fault(12.0, 13.0)])
    assert m.time_to_detect_s == 1.0


# --------------------------------------------------------------------------- baselines


def test_the_baseline_leaves_out_other_faults_and_an_earlier_faults_recovery():
    # Given fault 1 on 10-15 s whose errors last until 19 s, then fault 2 at 30 s, and a
    # slow first second
    rows = series(60)
    rows[0]["p95_ms"] = 900.0
    with_errors(rows, range(10, 20), 50)
    with_errors(rows, range(30, 35), 50)
    first, second_fault = measure(rows, [fault(10.0, 15.0), fault(30.0, 35.0, "Throttling")])
    # Then fault 1 recovered at 20 s, and fault 2's baseline is 1..9 and 20..29
    assert first.recovered_at_s == 20.0
    assert second_fault.baseline.seconds == (*range(1, 10), *range(20, 30))
    assert second_fault.baseline.error_rate == 0.0
    assert second_fault.time_to_detect_s == 1.0


def test_the_baseline_is_at_most_its_configured_length_and_prefers_recent_seconds():
    rows = series(100)
    with_errors(rows, range(80, 85), 50)
    (m,) = measure(rows, [fault(80.0, 85.0)], settings=ResilienceSettings(baseline=10))
    assert m.baseline.seconds == tuple(range(70, 80))


def test_without_a_baseline_a_fault_is_judged_against_a_clean_target():
    # Given a fault one second into the run: no clean seconds before it
    rows = series(20)
    with_errors(rows, range(1, 4), 5)  # 5% errors
    for n in range(1, 4):
        rows[n]["p95_ms"] = 500.0
    (m,) = measure(rows, [fault(1.0, 3.0)])
    assert m.baseline.error_rate is None and len(m.baseline.seconds) == 0
    assert m.time_to_detect_s == 1.0  # 5% > the 1% tolerance; latency is not judged
    assert fault_record(m)["baseline"] == {"seconds": 0, "error_rate": None, "p95_ms": None}


def test_a_baseline_with_a_few_errors_raises_the_bar():
    rows = series(40)
    for n in range(1, 10):
        rows[n] = second(n, errors=3)  # 3% errors before the fault
    with_errors(rows, range(10, 20), 3)
    (m,) = measure(rows, [fault(10.0, 20.0)])
    assert m.baseline.error_rate == pytest.approx(0.03)
    assert m.time_to_detect_s is None


# --------------------------------------------------------------------------- overlaps


def test_overlapping_faults_share_their_seconds():
    # Given fault 1 on 10-20 s and fault 2 on 15-25 s, errors throughout both
    rows = series(60)
    with_errors(rows, range(10, 25), 40)
    first, second_fault = measure(rows, [fault(10.0, 20.0), fault(15.0, 25.0, "Throttling")])
    # Then fault 2's baseline holds no second of fault 1's window
    assert max(second_fault.baseline.seconds) < 10
    # And fault 1 recovers only when fault 2's errors stop; both are charged for 15-20 s
    assert first.recovered_at_s == 25.0 and second_fault.recovered_at_s == 25.0
    assert first.affected == 15 * 40 and second_fault.affected == 10 * 40
    assert first.time_to_detect_s == 1.0 and second_fault.time_to_detect_s == 1.0


# --------------------------------------------------------------------------- lost and cost


def test_unanswered_requests_are_lost_and_late_answers_are_not():
    # Given answers that arrive a second late during the fault (in flight, not lost) ...
    rows = series(40)
    rows[10] = second(10, answered=TPS - 30)
    rows[11] = second(11, answered=TPS + 30)
    # ... and 7 requests of second 14 that never get an answer
    rows[14] = second(14, answered=TPS - 7)
    (m,) = measure(rows, [fault(10.0, 15.0)])
    assert m.lost == 7
    timeline = Timeline.from_rows(rows)
    assert timeline.lost_between(0, 10) == 0
    assert timeline.lost_between(10, 12) == 0
    assert timeline.lost_between(0, 40) == 7


def test_error_budget_comes_from_the_run_wide_error_rate_criterion():
    criteria = [Criterion.model_validate(c) for c in (
        {"expr": "error_rate < 0.01", "during": "fault"},
        {"expr": "error_rate < 0.002", "start": 0, "end": 10},
        "error_rate < 0.005",
    )]
    assert error_budget_rate(criteria) == 0.005
    assert error_budget_rate(criteria[:2]) == 0.002
    assert error_budget_rate(criteria[:1]) == DEFAULT_ERROR_BUDGET
    # And the spend is the fault's errors against that share of the run's requests
    rows = series(100)
    with_errors(rows, range(50, 52), 10)
    (m,) = measure(rows, [fault(50.0, 52.0)], budget_rate=0.005)
    assert m.error_budget_spent_pct == pytest.approx(20 / (0.005 * 100 * TPS) * 100)


def test_accuracy_before_during_and_after():
    rows = series(80)
    for n in range(30, 40):
        rows[n] = second(n, correct_share=0.5)
    (m,) = measure(rows, [fault(30.0, 40.0)])
    assert m.accuracy_before == pytest.approx(0.95)
    assert m.accuracy_during == pytest.approx(0.5)
    assert m.accuracy_after == pytest.approx(0.95)


@settings(max_examples=60, deadline=None)
@given(
    errors=st.lists(st.integers(0, TPS), min_size=30, max_size=30),
    unanswered=st.lists(st.integers(0, 3), min_size=30, max_size=30),
    start=st.floats(2, 25), length=st.floats(0.5, 10),
)
def test_affected_and_lost_never_exceed_what_the_span_counted(errors, unanswered, start, length):
    rows = [second(n, errors=e, answered=TPS - u) for n, (e, u) in
            enumerate(zip(errors, unanswered, strict=True))]
    (m,) = measure(rows, [fault(start, start + length)])
    lo, hi = m.span
    assert m.affected <= sum(r["errors"] + r["timeouts"] for r in rows[lo:hi])
    assert m.lost <= sum(unanswered)
    assert m.time_to_detect_s is None or 0 <= m.time_to_detect_s
    assert m.time_to_recover_s is None or 0 <= m.time_to_recover_s


# --------------------------------------------------------------------------- records


def test_records_from_aws_are_measured_on_planned_times_and_never_injected_ones_not_at_all():
    windows = fault_windows([
        {"type": "latency", "label": "L", "planned_start_s": 10.0, "planned_end_s": 20.0,
         "status": "scheduled with AWS FIS"},
        {"type": "throttle", "label": "T", "start_s": None, "end_s": None,
         "status": "failed: refused"},
        {"type": "agent_down", "label": "D", "start_s": 25.0, "end_s": None,
         "status": "injected"},
    ], run_end_s=40)
    assert [(w.number, w.start_s, w.end_s, w.planned, w.measured) for w in windows] == [
        (1, 10.0, 20.0, True, True), (2, None, None, False, False),
        (3, 25.0, 40.0, False, True)]
    measured = measure_faults([w.record for w in windows], Timeline.from_rows(series(40)))
    records = [fault_record(m) for m in measured]
    assert [r["timing"] for r in records] == ["planned", None, "observed"]
    assert [r["passed"] for r in records] == [True, None, True]
    assert records[1]["affected"] is None and records[1]["lost"] is None


def test_recovery_length_scales_with_compressed_runs_but_not_below_a_few_seconds():
    assert ResilienceSettings().recovery_seconds(1.0) == 5
    assert ResilienceSettings().recovery_seconds(0.05) == 3
    assert ResilienceSettings(recover_for="10s").recovery_seconds(0.5) == 5
    assert ResilienceSettings(recover_for=1).recovery_seconds(0.05) == 1
    assert ResilienceSettings(recover_for=5).recovery_seconds(2.0) == 10


@pytest.mark.parametrize("raw, message", [
    ({"min_baseline": 40}, "must not exceed resilience.baseline"),
    ({"error_tolerance": 2}, "less than or equal to 1"),
    ({"recover_for": "soon"}, "not a duration"),
])
def test_bad_resilience_settings(raw, message):
    with pytest.raises(ValueError, match=message):
        ResilienceSettings.model_validate(raw)


def test_settings_read_durations_and_percentages():
    parsed = ResilienceSettings.model_validate(
        {"baseline": "1m", "error_tolerance": "2%", "latency_tolerance": "100%"})
    assert (parsed.baseline, parsed.error_tolerance, parsed.latency_tolerance) == (60, 0.02, 1.0)


# --------------------------------------------------------------------------- fault criteria


def _error_rate_metrics(timeline: Timeline, calls: list[tuple[int, int]]):
    def metrics_for(start: int, end: int) -> dict[str, float | None]:
        calls.append((start, end))
        total = timeline.total(range(start, end))
        return {"error_rate": total.failed / total.sent if total.sent else None,
                "lost": 99.0}
    return metrics_for


def test_fault_criteria_are_judged_on_each_faults_own_windows():
    rows = series(100)
    with_errors(rows, range(20, 30), 50)
    with_errors(rows, range(60, 70), 2)
    records = [fault(20.2, 29.6), fault(60.0, 70.0, "Throttling"),
               fault(80.0, 85.0, "Down", start_s=None, end_s=None)]
    measured = measure(rows, records)
    calls: list[tuple[int, int]] = []
    metrics_for = _error_rate_metrics(Timeline.from_rows(rows), calls)

    during = Criterion.model_validate({"expr": "error_rate < 0.05", "during": "fault"})
    verdicts = judge_per_fault(during, measured, metrics_for, 100)
    assert [(i, r.window, r.passed) for i, r in verdicts] == [
        (0, "fault 1 (Lambda function crashes)", False),
        (1, "fault 2 (Throttling)", True),
        (2, "fault 3 (Down): not injected", False),
    ]
    assert calls == [(20, 30), (60, 70)]

    calls.clear()
    after = Criterion.model_validate({"expr": "error_rate < 0.01", "after": "fault:1 + 60s"})
    ((index, result),) = judge_per_fault(after, measured, metrics_for, 100)
    assert (index, result.window, result.passed) == (0, "fault 1 (Lambda function crashes) + 60s",
                                                     True)
    assert calls == [(30, 90)]

    calls.clear()
    until_next = Criterion.model_validate({"expr": "error_rate < 0.001", "after": "fault"})
    windows = [r.window for _, r in judge_per_fault(until_next, measured, metrics_for, 100)]
    assert windows[:2] == ["after fault 1 (Lambda function crashes)", "after fault 2 (Throttling)"]
    assert calls == [(30, 60), (70, 100)]

    by_label = Criterion.model_validate({"expr": "lost == 0", "during": "fault:throttling"})
    ((index, result),) = judge_per_fault(by_label, measured, metrics_for, 100)
    # lost during a fault is the fault's own count, not the window's naive difference
    assert index == 1 and result.passed is True and result.observed == 0


def test_a_faults_verdict_includes_its_own_criteria():
    (m,) = measure(series(40), [fault(10.0, 20.0)])
    failing = CriterionResult(expr="p99_ms < 1", window="fault 1 (x)", passed=False, observed=5)
    record = fault_record(m, [failing])
    assert record["passed"] is False and record["criteria"][0]["expr"] == "p99_ms < 1"


def test_live_views_judge_fault_criteria_on_the_planned_windows():
    spec = parse_scenario({
        "name": "f", "phases": [{"shape": "constant", "tps": 10, "duration": 100}],
        "faults": [{"type": "latency", "at": 50, "duration": 10, "label": "L"},
                   {"type": "throttle", "at": 20, "duration": 5, "label": "T"}],
        "criteria": [{"expr": "p95_ms < 100", "during": "fault"},
                     {"expr": "p95_ms < 100", "during": "fault:2"},
                     {"expr": "p95_ms < 100", "after": "fault:T + 30s"}],
    }, "test")
    assert [criterion_window(c, spec) for c in spec.criteria] == [(20, 60), (50, 60), (25, 55)]


# --------------------------------------------------------------------------- summary


def _aggregator(spec, run_id: str, bad: range) -> RunAggregator:
    plan = plan_run(spec, run_id)
    aggregator = RunAggregator(run_id, plan.expected_per_second)
    for n in range(int(spec.duration)):
        stats = WindowStats()
        stats.scheduled = stats.sent = TPS
        failed = 40 if n in bad else 0
        stats.errors["http_5xx"] = failed
        stats.ok = TPS - failed
        for _ in range(stats.ok):
            record_us(stats.latency, 0.01)
            stats.record_decision("approve", False, False, "normal", 1.0)
        aggregator.add(stats.to_batch(run_id, "w0-s0", 0, 0, n, n, final=n == spec.duration - 1))
    return aggregator


def test_the_summary_measures_each_fault_and_its_verdicts_decide_the_run():
    spec = parse_scenario({
        "name": "f", "workers": 1, "phases": [{"shape": "constant", "tps": TPS, "duration": 60}],
        "faults": [{"type": "agent_errors", "at": 20, "duration": 10, "label": "Crash"}],
        "criteria": ["lost == 0", {"expr": "error_rate < 0.5", "during": "fault"},
                     {"expr": "error_rate < 0.001", "after": "fault + 10s"}],
    }, "test")
    aggregator = _aggregator(spec, "r1", range(20, 30))
    facts = RunFacts(run_id="r1", target="t", started_at="s", ended_at="e", status="completed",
                     target_received=TPS * 60, workers_expected=1,
                     fault_windows=[fault(20.0, 30.0, "Crash")])
    summary = build_summary(spec, plan_run(spec, "r1"), aggregator, facts, load_price_table(), 1.0)
    (entry,) = summary["faults"]
    assert entry["time_to_detect_s"] == 1.0 and entry["time_to_recover_s"] == 0.0
    assert (entry["affected"], entry["lost"], entry["passed"]) == (400, 0, True)
    assert entry["error_budget_spent_pct"] == pytest.approx(400 / (0.001 * 6000) * 100)
    assert [(c["window"], c["passed"]) for c in summary["criteria"]] == [
        ("run", True), ("fault 1 (Crash)", True), ("fault 1 (Crash) + 10s", True)]
    assert summary["passed"] is True

    # And a fault that does not recover fails the run, though every criterion passed
    aggregator = _aggregator(spec, "r2", range(20, 60))
    facts.fault_windows = [fault(20.0, 30.0, "Crash")]
    spec_plain = spec.model_copy(update={"criteria": []})
    summary = build_summary(spec_plain, plan_run(spec, "r2"), aggregator,
                            RunFacts(**{**facts.__dict__, "run_id": "r2"}), load_price_table(),
                            1.0)
    assert summary["faults"][0]["passed"] is False and summary["criteria"] == []
    assert summary["passed"] is False
