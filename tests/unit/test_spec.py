"""Scenarios as data: the bundled ones validate; bad files fail with one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from stresslab.scenario.spec import ScenarioError, list_scenarios, load_scenario, parse_scenario

DESIGN_BRIEF_SCENARIOS = {
    "peak-load", "sustained", "burst", "failure-recovery", "investor-demo", "smoke",
}


def test_the_design_brief_scenarios_are_bundled_and_valid():
    assert DESIGN_BRIEF_SCENARIOS <= set(list_scenarios())
    for name in list_scenarios():
        spec = load_scenario(name)
        assert spec.name == name
        assert spec.duration > 0


def test_design_brief_numbers():
    peak = load_scenario("peak-load")
    assert peak.profile().peak() == 10_000
    assert [p.duration for p in peak.phases] == [300, 1200, 300]
    assert {c.expr for c in peak.criteria} >= {"p95_ms < 2000", "p99_ms < 5000",
                                                "error_rate < 0.001", "lost == 0"}
    sustained = load_scenario("sustained")
    assert (sustained.duration, sustained.profile().peak()) == (7200, 2000)
    burst = load_scenario("burst")
    assert (burst.duration, burst.profile().peak(), burst.profile().rate(0)) == (900, 10000, 1000)
    recovery = load_scenario("failure-recovery")
    assert recovery.duration == 2700 and len(recovery.faults) == 4
    demo = load_scenario("investor-demo")
    assert demo.duration == 600 and len(demo.faults) == 1


def test_scaling_compresses_a_scenario_and_records_the_scales():
    # 30 min at 10k TPS -> 90 s at 2k TPS
    spec = load_scenario("peak-load").scaled(time_scale=0.05, load_scale=0.2)
    assert spec.duration == pytest.approx(90)
    assert spec.profile().peak() == pytest.approx(2000)
    assert (spec.time_scale, spec.load_scale) == (0.05, 0.2)
    recovery = load_scenario("failure-recovery").scaled(time_scale=0.05)
    assert recovery.faults[0].at == pytest.approx(15)


def test_constant_rate_override_keeps_run_wide_criteria_only():
    spec = load_scenario("peak-load").at_constant_rate(500, 30)
    assert spec.duration == 30 and spec.profile().peak() == 500
    assert all(c.during is None for c in spec.criteria)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


FAULT = "faults: [{type: latency, at: 1, duration: 2, label: Spike}]\n"
GOOD = """
name: mine
phases:
  - {shape: constant, tps: 10, duration: 5s}
"""


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed", "malformed YAML"),
    ("- a\n- b", "expected a mapping"),
    (GOOD + "colour: red\n", "colour: Extra inputs are not permitted"),
    (GOOD.replace("tps: 10", "tps: -5"),
     "phases.0.tps: Input should be greater than or equal to 0"),
    (GOOD.replace("constant", "zigzag"), "phases.0: Input tag 'zigzag' found using 'shape'"),
    ("name: mine\nphases: []\n", "phases: List should have at least 1 item"),
    (GOOD + "criteria: ['p95 < 5']\n", "unknown metric 'p95'"),
    (GOOD + "criteria: [{expr: 'p95_ms < 5', during: nope}]\n", "unknown phase 'nope'"),
    (GOOD + "faults: [{type: meteor, at: 1, duration: 1}]\n", "faults.0.type"),
    (GOOD + "faults: [{type: latency, at: 10m, duration: 1}]\n", "starts after the run ends"),
    (GOOD + "reporting_currency: XYZ\n", "unknown currency 'XYZ'"),
    (GOOD + FAULT + "criteria: [{expr: 'lost == 0', during: 'fault:2'}]\n",
     "criterion 'lost == 0' (during: fault:2) names fault 2; the scenario has 1"),
    (GOOD + FAULT + "criteria: [{expr: 'lost == 0', after: 'fault:Crash + 1m'}]\n",
     "names unknown fault 'Crash'; labels: 'Spike'"),
    (GOOD + "criteria: [{expr: 'lost == 0', during: fault}]\n",
     "is judged per fault, but the scenario has no faults"),
    (GOOD + FAULT + "criteria: [{expr: 'lost == 0', after: 'fault + never'}]\n",
     "criteria.0: after: cannot read the offset"),
    (GOOD.replace("{shape:", "{name: fault, shape:"), "phase name 'fault' is reserved"),
    (GOOD + "resilience: {recover_for: 0}\n", "resilience.recover_for"),
    (GOOD + "resilience: {patience: 3}\n", "resilience.patience: Extra inputs"),
    (GOOD + "mix: {legit: 0.5, fraud: 0.1, edge: 0.1}\n", "mix"),
    (GOOD.replace("name: mine", "name: Bad Name"), "name: String should match pattern"),
    (GOOD.replace("duration: 5s", "duration: 1e300"), "the run lasts 1e+300s; at most 604800s"),
    (GOOD.replace("duration: 5s", "duration: 8d"), "phases.0.duration: not a duration"),
    (GOOD.replace("duration: 5s", "duration: .inf"), "phases.0.duration: not a duration: inf"),
    (GOOD + "faults: [{type: latency, at: 1, duration: .nan}]\n", "faults.0.duration"),
    (GOOD + "faults: [{type: latency, at: 1, duration: 1, intensity: .inf}]\n",
     "faults.0.intensity: Input should be a finite number"),
    (GOOD + "http: {max_body_bytes: 10}\n", "http.max_body_bytes"),
    (GOOD + "response: {max_agents: 1000}\n", "response.max_agents"),
    (GOOD.replace("name: mine", "name: mine\ndescription: \"a\\nb\"\nx: 1"),
     "x: Extra inputs"),
])
def test_bad_files_fail_with_one_line_naming_the_field(tmp_path, text, message):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_scenario_lists_the_known_ones():
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; known: .*smoke"):
        load_scenario("nope")


def test_missing_file():
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario("/nonexistent/x.yaml")


def test_the_resilience_scenarios_judge_each_fault():
    recovery = load_scenario("failure-recovery")
    assert {c.window_label for c in recovery.criteria} >= {"during fault", "after fault + 60s"}
    demo = load_scenario("investor-demo")
    assert {c.window_label for c in demo.criteria} >= {"during fault", "after fault + 60s"}
    assert recovery.resilience.recover_for == 5


def test_constant_rate_override_keeps_fault_criteria_whose_faults_still_happen():
    spec = load_scenario("failure-recovery").at_constant_rate(100, 10 * 60)
    assert len(spec.faults) == 1
    assert {c.window_label for c in spec.criteria} == {"run", "during fault", "after fault + 60s"}
    assert load_scenario("failure-recovery").at_constant_rate(100, 60).criteria[0].run_wide


def test_scaling_past_seven_days_is_refused():
    spec = parse_scenario({"name": "long", "phases": [
        {"shape": "constant", "tps": 10, "duration": "2h"}]}, "test")
    with pytest.raises(ScenarioError, match="--time-scale 100 makes the run last 720000s"):
        spec.scaled(time_scale=100)


@pytest.mark.parametrize("value", ["inf", "-inf", "NaN", "1e400", float("inf"), float("nan"),
                                   10**400, "Infinity"])
def test_a_duration_is_always_a_finite_number(value):
    from stresslab.scenario.durations import parse_duration

    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_one_known_currency_rule_for_scenarios_and_presentation_profiles():
    from pydantic import AfterValidator

    from stresslab.scenario.presentation import PresentationProfile
    from stresslab.scenario.spec import ScenarioSpec

    # Given the reporting currency of a scenario and the currency of a presentation profile
    def currency_rules(field: object) -> list[object]:
        return [m.func for m in getattr(field, "metadata", []) if isinstance(m, AfterValidator)]

    scenario = currency_rules(ScenarioSpec.model_fields["reporting_currency"])
    profile = currency_rules(PresentationProfile.model_fields["currency"])
    # Then both are checked by the one rule (it was copied into each model)
    assert len(scenario) == 1 and scenario == profile
