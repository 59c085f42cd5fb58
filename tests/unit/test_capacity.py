"""Capacity search as a pure state machine: step up, bisect, conclude; never blame the target
for the generator; capacity.json and capacity.html."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stresslab.judgement.capacity import (
    CAPACITY_SCHEMA,
    PlannedStep,
    StepObservation,
    StepResult,
    Verdict,
    capacity_report,
    conclude,
    judge_step,
    next_step,
    observe_step,
    step_spec,
)
from stresslab.judgement.criteria import CriterionResult
from stresslab.judgement.summary import RunSummary
from stresslab.outputs.capacity_report import render_capacity_html
from stresslab.scenario.criteria import Criterion
from stresslab.scenario.settings import CapacitySearch
from stresslab.scenario.spec import ScenarioError, load_scenario, parse_scenario

Oracle = Callable[[float], Verdict]


def search(**fields: object) -> CapacitySearch:
    return CapacitySearch.model_validate(
        {"start_tps": 500, "step_tps": 500, "max_tps": 5000, "refine_steps": 3, **fields}
    )


def observation(tps: float, verdict: Verdict = "passed", stage: str = "step-up",
                **fields: object) -> StepObservation:
    criteria = [CriterionResult(expr="p95_ms < 2000", window="run",
                                passed=verdict != "failed", observed=2500.0 if
                                verdict == "failed" else 100.0)]
    failed = verdict == "failed"
    metrics = {"achieved_tps": tps, "p95_ms": 2500.0 if failed else 20 + tps / 100,
               "p99_ms": 4000.0 if failed else 40 + tps / 50,
               "error_rate": 0.004 if failed else 0.0}
    base: dict[str, object] = {"tps": tps, "stage": stage, "criteria": criteria,
                               "lag_p99_ms": 5.0, "metrics": metrics, "achieved_tps": tps}
    if verdict == "generator-limited":
        base["dropped"] = 7
    return StepObservation.model_validate({**base, **fields})


def run_search(plan: CapacitySearch, oracle: Oracle) -> list[StepResult]:
    """Drive the state machine with a verdict per rate, as the runtime does with real runs."""
    steps: list[StepResult] = []
    while (planned := next_step(plan, steps)) is not None:
        assert len(steps) < plan.max_steps, "the search must end within max_steps"
        steps.append(judge_step(plan, observation(planned.tps, oracle(planned.tps),
                                                  planned.stage)))
    return steps


def threshold(limit: float) -> Oracle:
    return lambda tps: "passed" if tps <= limit else "failed"


# -- the search --------------------------------------------------------------------------------


def test_steps_up_then_bisects_between_the_last_pass_and_the_first_failure():
    # Given a target that meets the criteria up to 2,700 TPS
    plan = search()
    # When the search runs
    steps = run_search(plan, threshold(2700))
    # Then it steps up by 500 until 3,000 fails, then bisects three times
    assert [(s.tps, s.stage, s.verdict) for s in steps] == [
        (500, "step-up", "passed"), (1000, "step-up", "passed"), (1500, "step-up", "passed"),
        (2000, "step-up", "passed"), (2500, "step-up", "passed"), (3000, "step-up", "failed"),
        (2750, "refine", "failed"), (2625, "refine", "passed"), (2688, "refine", "passed"),
    ]
    # And the highest passing rate is the capacity, with the first failure above it
    result = conclude(plan, steps)
    assert (result.outcome, result.capacity_tps, result.first_failing_tps) == (
        "found", 2688, 2750)
    assert result.resolution_tps == 62 and not result.generator_limited


def test_no_refinement_reports_the_last_passing_step():
    plan = search(refine_steps=0)
    steps = run_search(plan, threshold(2700))
    assert [s.tps for s in steps] == [500, 1000, 1500, 2000, 2500, 3000]
    assert conclude(plan, steps).capacity_tps == 2500


def test_a_first_step_that_fails_means_no_capacity():
    plan = search()
    steps = run_search(plan, threshold(100))
    assert [s.tps for s in steps] == [500]
    result = conclude(plan, steps)
    assert (result.outcome, result.capacity_tps, result.first_failing_tps) == (
        "none-passed", None, 500)
    assert not result.found


def test_every_step_passing_reports_max_tps_as_a_lower_bound():
    # Given steps that do not land on max_tps: the last one is capped at it
    plan = search(start_tps=100, step_tps=300, max_tps=500)
    steps = run_search(plan, threshold(10_000))
    assert [s.tps for s in steps] == [100, 400, 500]
    result = conclude(plan, steps)
    assert (result.outcome, result.capacity_tps, result.first_failing_tps) == (
        "max-reached", 500, None)
    assert result.notes and "at least 500" in result.notes[0]


def test_a_generator_limited_step_ends_the_search_and_blames_nobody():
    # Given a generator that cannot keep up from 2,000 TPS, while the target would pass
    plan = search()

    def oracle(tps: float) -> Verdict:
        return "generator-limited" if tps >= 2000 else "passed"

    steps = run_search(plan, oracle)
    # Then the search stops there and reports no capacity, only how far the target was seen
    assert [s.tps for s in steps] == [500, 1000, 1500, 2000]
    result = conclude(plan, steps)
    assert (result.outcome, result.capacity_tps, result.highest_passing_tps) == (
        "generator-limited", None, 1500)
    assert result.generator_limited and result.first_failing_tps is None
    assert "could not keep up above 1500 TPS" in result.notes[0]
    assert "dropped" in result.notes[0]


def test_a_generator_limited_first_step():
    plan = search()
    steps = run_search(plan, lambda tps: "generator-limited")
    result = conclude(plan, steps)
    assert len(steps) == 1
    assert (result.outcome, result.capacity_tps, result.highest_passing_tps) == (
        "generator-limited", None, None)
    assert "at the first step" in result.notes[0]


def test_a_generator_limited_refinement_keeps_the_bracket_found_so_far():
    # Given a failure at 3,000 and then a generator that cannot hold the midpoint
    plan = search()

    def oracle(tps: float) -> Verdict:
        if tps == 2750:
            return "generator-limited"
        return "passed" if tps <= 2500 else "failed"

    steps = run_search(plan, oracle)
    assert [s.tps for s in steps][-2:] == [3000, 2750]
    result = conclude(plan, steps)
    # Then the capacity stands at the coarser resolution, with the limitation noted
    assert (result.outcome, result.capacity_tps, result.first_failing_tps) == (
        "found", 2500, 3000)
    assert not result.generator_limited
    assert any("2750" in note for note in result.notes)


def test_a_search_cut_short_is_incomplete_and_claims_nothing():
    plan = search()
    steps = run_search(plan, threshold(2700))[:3]
    result = conclude(plan, steps)
    assert (result.outcome, result.capacity_tps, result.highest_passing_tps) == (
        "incomplete", None, 1500)
    assert conclude(plan, []).outcome == "incomplete"


def test_small_intervals_refine_in_fractions_and_stop_when_nothing_is_left():
    plan = search(start_tps=1, step_tps=1, max_tps=3, refine_steps=10)
    steps = run_search(plan, threshold(1.3))
    rates = [s.tps for s in steps]
    assert rates[:3] == [1, 2, 1.5]
    assert len(rates) == 2 + 10
    result = conclude(plan, steps)
    assert result.capacity_tps is not None and result.first_failing_tps is not None
    assert result.capacity_tps <= 1.3 < result.first_failing_tps
    assert result.first_failing_tps - result.capacity_tps <= 1 / 2**10


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(1, 2000), step=st.integers(1, 2000), span=st.integers(0, 20),
    refine=st.integers(0, 10), limit=st.floats(0.5, 50_000),
)
def test_for_any_monotone_threshold_the_capacity_is_the_highest_passing_rate(
    start, step, span, refine, limit
):
    # Given a target that meets the criteria exactly up to `limit`
    plan = search(start_tps=start, step_tps=step, max_tps=start + span * step,
                  refine_steps=refine)
    steps = run_search(plan, threshold(limit))
    result = conclude(plan, steps)
    # Then no rate is tried twice, all lie within [start, max], and the search ends in time
    rates = [s.tps for s in steps]
    assert len(rates) == len(set(rates)) <= plan.max_steps
    assert all(plan.start_tps <= r <= plan.max_tps for r in rates)
    if limit < plan.start_tps:
        assert (result.outcome, result.capacity_tps) == ("none-passed", None)
    elif limit >= plan.max_tps:
        assert (result.outcome, result.capacity_tps) == ("max-reached", plan.max_tps)
    else:
        # The capacity met the criteria, the failure above it did not, and they are within
        # the refinement resolution of each other (plus the rounding to whole TPS)
        assert result.outcome == "found"
        assert result.capacity_tps is not None and result.first_failing_tps is not None
        assert result.capacity_tps <= limit < result.first_failing_tps
        assert result.first_failing_tps - result.capacity_tps <= step / 2**refine + 1


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(1, 1000), step=st.integers(1, 1000), span=st.integers(0, 15),
    refine=st.integers(0, 6),
    verdicts=st.dictionaries(st.integers(0, 200), st.sampled_from(
        ["passed", "failed", "generator-limited"]), min_size=1),
)
def test_for_any_verdicts_every_pass_lies_below_every_failure(start, step, span, refine,
                                                              verdicts):
    # Given a target and generator that answer anything, even non-monotonically
    plan = search(start_tps=start, step_tps=step, max_tps=start + span * step,
                  refine_steps=refine)
    keys = sorted(verdicts)

    def oracle(tps: float) -> Verdict:
        return verdicts[keys[int(tps) % len(keys)]]  # type: ignore[return-value]

    steps = run_search(plan, oracle)
    result = conclude(plan, steps)
    passed = [s.tps for s in steps if s.verdict == "passed"]
    failed = [s.tps for s in steps if s.verdict == "failed"]
    limited = [s for s in steps if s.verdict == "generator-limited"]
    # Then the search is consistent: it never retests or brackets wrongly
    assert not passed or not failed or max(passed) < min(failed)
    assert len(limited) <= 1 and (not limited or steps[-1] is limited[0])
    if result.capacity_tps is not None:
        assert result.capacity_tps == max(passed)
    if limited and not failed:
        assert result.generator_limited and result.capacity_tps is None
    assert result.outcome != "incomplete"


# -- judging a step ----------------------------------------------------------------------------


def result_of(criteria: list[tuple[str, bool, float | None]], **fields: object) -> StepResult:
    observed = StepObservation.model_validate({
        "tps": 1000, "stage": "step-up", "lag_p99_ms": 3.0,
        "criteria": [CriterionResult(expr=e, window="run", passed=p, observed=o)
                     for e, p, o in criteria],
        **fields,
    })
    return judge_step(search(max_lag_p99_ms=150), observed)


def test_a_step_passes_when_every_criterion_passes_and_the_generator_kept_up():
    step = result_of([("p95_ms < 2000", True, 12.0), ("error_rate < 0.001", True, 0.0)])
    assert step.verdict == "passed" and step.passed
    assert step.failed_criteria == [] and step.generator_issues == []


def test_a_broken_criterion_fails_the_step_and_says_which():
    step = result_of([("p95_ms < 2000", False, 2345.6), ("error_rate < 0.001", True, 0.0)])
    assert step.verdict == "failed"
    assert step.failed_criteria == ["p95_ms < 2000 [run] observed 2,346"]


def test_counts_that_do_not_reconcile_fail_the_step():
    step = result_of([("p95_ms < 2000", True, 10.0)], reconciled=False)
    assert step.verdict == "failed" and "reconcile" in step.failed_criteria[0]


@pytest.mark.parametrize("fields, issue", [
    ({"dropped": 12}, "12 arrivals dropped by the generator"),
    ({"lag_p99_ms": 151.0}, "schedule lag p99 151.0 ms > 150 ms"),
    ({"status": "failed"}, "worker processes failed"),
])
def test_a_pass_while_the_generator_fell_short_proves_nothing(fields, issue):
    step = result_of([("p95_ms < 2000", True, 300.0)], **fields)
    assert step.verdict == "generator-limited" and not step.passed
    assert step.generator_issues == [issue] and step.failed_criteria == []


@pytest.mark.parametrize("criterion, verdict", [
    # latency counts from the intended send time: 2,300 ms less a worst lag of 400 ms is still
    # over 1,500 ms on the target's time alone, but within 2,000 ms it might be the lag's
    (("p95_ms < 1500", False, 2300.0), "failed"),
    (("p95_ms < 2000", False, 2300.0), "generator-limited"),
    (("avg_ms <= 100", False, 600.0), "failed"),
    # the target's own answers are its own, whatever the generator's timing
    (("error_rate < 0.1%", False, 0.02), "failed"),
    (("lost == 0", False, 3.0), "failed"),
    (("accuracy > 0.9", False, 0.5), "failed"),
    # the generator's own figures are not
    (("achieved_tps >= 1000", False, 900.0), "generator-limited"),
    (("lag_p99_ms < 100", False, 300.0), "generator-limited"),
    (("p95_ms > 5", False, 1.0), "generator-limited"),
    (("error_rate < 0.1%", False, None), "generator-limited"),  # nothing was measured
])
def test_a_failure_while_the_generator_fell_short_counts_only_on_the_targets_account(
    criterion, verdict
):
    step = result_of([criterion], lag_p99_ms=300.0, lag_max_ms=400.0)
    assert step.verdict == verdict
    assert step.generator_issues == ["schedule lag p99 300.0 ms > 150 ms"]
    assert step.failed_criteria  # reported either way, for the reader


def test_a_worker_that_failed_makes_any_step_generator_limited():
    step = result_of([("error_rate < 0.1%", False, 0.5)], status="failed")
    assert step.verdict == "generator-limited"


def test_requests_the_target_never_answered_count_against_it_even_when_the_generator_lagged():
    step = result_of([("p95_ms < 2000", True, 10.0)], reconciled=False, lag_p99_ms=300.0)
    assert step.verdict == "failed"


def test_without_a_lag_maximum_latency_is_taken_as_measured():
    step = result_of([("p95_ms < 2000", False, 2100.0)], dropped=3)
    assert step.verdict == "failed"


def test_no_lag_recorded_is_not_a_shortfall():
    assert result_of([("p95_ms < 2000", True, 1.0)], lag_p99_ms=None).verdict == "passed"


def test_lag_at_the_bound_is_still_keeping_up():
    assert result_of([("p95_ms < 2000", True, 1.0)], lag_p99_ms=150.0).verdict == "passed"


def summary(**changes: object) -> RunSummary:
    """A run's summary: these figures over a full one (the plain golden summary)."""
    data: dict[str, object] = {
        "run_id": "cap-1", "status": "completed",
        "load": {"achieved_tps_avg": 998.5},
        "counts": {"sent": 10_000, "ok": 9_990, "errors": 6, "timeouts": 4, "dropped": 0,
                   "reconciled": True, "errors_by_class": {"http_429": 5}},
        "latency_ms": {"p50": 3.0, "p95": 9.5, "p99": 20.0, "max": 80.0},
        "schedule_lag_ms": {"p50": 0.1, "p99": 2.5, "max": 9.0},
        "criteria": [{"expr": "error_rate < 0.1%", "window": "run", "passed": False,
                      "observed": 0.001}],
    }
    data.update(changes)
    full = json.loads((Path(__file__).with_name("summary_golden") / "plain.json").read_text())
    for key, value in data.items():
        full[key] = {**(full[key] or {}), **value} if isinstance(value, dict) else value
    return RunSummary.model_validate(full)


def test_a_step_is_observed_from_its_summary():
    observed = observe_step(PlannedStep(tps=1000, stage="refine"), summary())
    assert (observed.tps, observed.stage, observed.run_id) == (1000, "refine", "cap-1")
    assert observed.achieved_tps == 998.5 and observed.lag_p99_ms == 2.5
    assert observed.lag_max_ms == 9.0
    assert observed.metrics["error_rate"] == pytest.approx(0.001)
    assert observed.metrics["throttle_rate"] == pytest.approx(0.0005)
    assert observed.metrics["p95_ms"] == 9.5 and observed.dropped == 0
    assert [c.passed for c in observed.criteria] == [False]


def test_a_step_that_sent_nothing_has_no_rates_or_lag():
    empty = summary(schedule_lag_ms=None, counts={
        "sent": 0, "ok": 0, "errors": 0, "timeouts": 0, "dropped": 500, "reconciled": True,
        "errors_by_class": {}}, criteria=[
        {"expr": "error_rate < 0.1%", "window": "run", "passed": False, "observed": None}])
    observed = observe_step(PlannedStep(tps=500, stage="step-up"), empty)
    assert observed.metrics["error_rate"] is None and observed.lag_p99_ms is None
    assert judge_step(search(), observed).verdict == "generator-limited"


# -- the model ---------------------------------------------------------------------------------


def test_defaults_and_durations():
    plan = search(step_duration="30s")
    assert plan.step_duration == 30 and plan.refine_steps == 3 and plan.max_lag_p99_ms == 200
    assert plan.step_up_rates == [500 * i for i in range(1, 11)]
    assert plan.max_steps == 13


@pytest.mark.parametrize("fields, message", [
    ({"start_tps": 600, "max_tps": 500}, "max_tps must be at least start_tps"),
    ({"start_tps": 1, "step_tps": 1, "max_tps": 1000}, "at most 100"),
    ({"start_tps": 1, "step_tps": 1e-5, "max_tps": 1e6}, "at most 100"),  # counted, not listed
    ({"criteria": [{"expr": "p95_ms < 1", "during": "x"}]}, "a step has no phases"),
    ({"criteria": [{"expr": "p95_ms < 1", "during": "fault"}]}, "a step has no phases"),
    ({"step_duration": 10, "criteria": [{"expr": "p95_ms < 1", "start": "10s"}]},
     "within the step_duration"),
    ({"step_duration": 10, "criteria": [{"expr": "p95_ms < 1", "end": 11}]},
     "within the step_duration"),
    ({"step_tps": 0}, "greater than 0"),
    ({"refine_steps": 11}, "less than or equal to 10"),
    ({"colour": "red"}, "Extra inputs are not permitted"),
])
def test_bad_searches_are_refused_naming_the_problem(fields, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        search(**fields)


def test_scaling_multiplies_rates_and_times():
    plan = search(step_duration=20, criteria=[{"expr": "p95_ms < 100", "start": "4s"}])
    scaled = plan.scaled(time_scale=0.5, load_scale=0.1)
    assert (scaled.start_tps, scaled.step_tps, scaled.max_tps) == (50, 50, 500)
    assert scaled.step_duration == 10 and scaled.criteria[0].start == 2
    assert scaled.max_steps == plan.max_steps


SCENARIO = {
    "name": "cap", "workers": 2,
    "phases": [{"name": "steady", "shape": "constant", "tps": 100, "duration": 60}],
    "criteria": ["p95_ms < 2000", "lost == 0", {"expr": "p99_ms < 10", "during": "steady"}],
    "faults": [{"type": "latency", "at": 50, "duration": 5}],
    "capacity_search": {"start_tps": 100, "step_tps": 100, "max_tps": 400,
                        "step_duration": "10s"},
}


def test_a_step_is_the_scenario_at_a_constant_rate_judged_on_its_run_wide_criteria():
    spec = parse_scenario(SCENARIO, "test")
    assert spec.capacity_search is not None
    one = step_spec(spec, spec.capacity_search, 250)
    assert one.duration == 10 and one.profile().peak() == 250
    assert [c.expr for c in one.criteria] == ["p95_ms < 2000", "lost == 0"]
    assert one.faults == [] and one.capacity_search is None
    assert one.workers == 2 and one.seed == spec.seed


def test_a_step_is_judged_on_the_searchs_own_criteria_when_it_has_them():
    spec = parse_scenario({**SCENARIO, "capacity_search": {
        **SCENARIO["capacity_search"], "criteria": ["p99_ms < 50", "error_rate < 1%"]}}, "test")
    assert spec.capacity_search is not None
    one = step_spec(spec, spec.capacity_search, 100)
    assert [c.expr for c in one.criteria] == ["p99_ms < 50", "error_rate < 1%"]


def test_a_bad_search_in_a_scenario_is_one_line_naming_the_field():
    with pytest.raises(ScenarioError, match=r"capacity_search: max_tps must be at least"):
        parse_scenario({**SCENARIO, "capacity_search": {
            "start_tps": 500, "step_tps": 100, "max_tps": 100}}, "test")


def test_the_bundled_capacity_search_scenario():
    spec = load_scenario("capacity-search")
    plan = spec.capacity_search
    assert plan is not None
    # The design brief's criteria, judged on every step
    assert {c.expr for c in spec.criteria} >= {"p95_ms < 2000", "p99_ms < 5000",
                                               "error_rate < 0.1%", "lost == 0"}
    # The reference service saturates around 2,000-4,000 TPS on this machine: the steps cover
    # that band, and a search that fails there takes 2-4 minutes of load
    assert plan.start_tps < 2000 and plan.max_tps > 4000
    for capacity in (2000, 3000, 4000):
        steps = run_search(plan, threshold(capacity))
        assert 120 <= len(steps) * plan.step_duration <= 240
    # Drops should mean the generator fell behind, not that a slow target filled max_in_flight
    assert spec.http.max_in_flight * spec.workers >= plan.max_tps * spec.http.timeout


# -- outputs -----------------------------------------------------------------------------------


def report_for(oracle: Oracle, plan: CapacitySearch | None = None) -> dict[str, object]:
    plan = plan or search()
    steps = run_search(plan, oracle)
    return capacity_report(
        plan, steps, search_id="cap-20250101-000000-abcd", scenario="cap <&>", target="local",
        criteria=[Criterion(expr="p95_ms < 2000"), Criterion(expr="error_rate < 0.1%"),
                  Criterion(expr="p99_ms < 5s", start=2)],
        started_at="2025-01-01T00:00:00.000Z", ended_at="2025-01-01T00:03:00.000Z",
        status="completed", step_outputs=[f"steps/{i:02d}" for i in range(1, len(steps) + 1)],
    )


def test_capacity_json_holds_every_step_and_the_verdict():
    report = report_for(threshold(2700))
    assert report["schema"] == CAPACITY_SCHEMA == "stresslab.capacity/v1"
    assert (report["capacity_tps"], report["first_failing_tps"], report["generator_limited"]) \
        == (2688, 2750, False)
    assert report["criteria"] == ["p95_ms < 2000", "error_rate < 0.1%", "p99_ms < 5s [2s-end]"]
    steps = report["steps"]
    assert isinstance(steps, list) and len(steps) == 9
    first = steps[0]
    assert {"index", "stage", "tps", "passed", "verdict", "observed", "dropped", "lag_p99_ms",
            "criteria", "failed_criteria", "generator_issues", "run_id", "outputs"} <= set(first)
    assert first["outputs"] == "steps/01" and first["passed"] is True
    assert report["search"]["start_tps"] == 500 and "criteria" not in report["search"]
    assert json.loads(json.dumps(report)) == report


def test_capacity_html_is_one_self_contained_page_with_the_step_charts():
    page = render_capacity_html(report_for(threshold(2700)))
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
    assert "Capacity 2,688 TPS" in page and "first failing 2,750 TPS" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "cap &lt;&amp;&gt;" in page and "cap <&>" not in page
    assert page.count('class="failed"') == 2 and page.count('class="passed"') == 7
    assert "p95 &lt; 2,000 ms" in page  # the criterion drawn as a threshold line
    assert all(not math.isnan(float(x)) for x in re.findall(r'cx="([-0-9.]+)"', page))


@pytest.mark.parametrize("oracle, headline", [
    (threshold(100), "No capacity: even 500 TPS failed"),
    (threshold(1e9), "Capacity at least 5,000 TPS"),
    (lambda tps: "generator-limited", "Generator-limited"),
])
def test_capacity_html_says_what_the_search_found(oracle, headline):
    page = render_capacity_html(report_for(oracle))
    assert headline in page and page.count("<svg") == 3


def test_capacity_html_without_steps():
    page = render_capacity_html(capacity_report(
        search(), [], search_id="x", scenario="cap", target="local", criteria=[],
        started_at="", ended_at="", status="aborted"))
    assert "Search incomplete" in page and "no data" in page
