"""resolve_scenario: the one way from a source to the spec a run executes (load, override,
scale, ceilings), shared by the CLI, the local server and AWS planning."""

from __future__ import annotations

import argparse

import pytest

from stresslab.aws.planning import Ceilings as AwsCeilings
from stresslab.aws.planning import InvalidRun, parse_run_input, resolve_spec
from stresslab.cli import build_parser
from stresslab.cli import resolve_spec as cli_resolve_spec
from stresslab.control import StartRun
from stresslab.local.server import BadRequest, ServerSettings, build_spec
from stresslab.scenario.resolve import (
    AboveCeiling,
    Ceilings,
    Overrides,
    Scales,
    resolve_scenario,
)
from stresslab.scenario.spec import SCENARIOS_DIR, ScenarioError, load_scenario

INLINE = {"name": "inline", "phases": [{"shape": "constant", "tps": 40, "duration": "30s"}],
          "criteria": ["p95_ms < 500"]}


def test_load_override_then_scale_in_that_order():
    # Given the smoke scenario, a constant rate for a time, a worker count, a seed and scales
    spec = resolve_scenario("smoke", Overrides(tps=300, duration=60, workers=5, seed=7),
                            Scales(time=0.5, load=2))
    # Then the constant rate replaced the phases before both scales applied to it
    (phase,) = spec.phases
    assert (phase.tps, phase.duration) == (600, 30)
    assert (spec.workers, spec.seed, spec.time_scale, spec.load_scale) == (5, 7, 0.5, 2)
    # and it is what the steps done by hand give
    by_hand = load_scenario("smoke").at_constant_rate(300, 60)
    by_hand = by_hand.model_validate({**by_hand.model_dump(), "workers": 5, "seed": 7})
    assert spec == by_hand.scaled(0.5, 2)


def test_an_inline_scenario_is_named_scenario_in_its_errors():
    assert resolve_scenario(INLINE).name == "inline"
    with pytest.raises(ScenarioError, match=r"^scenario: phases: "):
        resolve_scenario({**INLINE, "phases": []})


@pytest.mark.parametrize(("overrides", "message"), [
    (Overrides(tps=10), "--tps and --duration go together"),
    (Overrides(workers=0), "workers: Input should be greater than or equal to 1"),
    (Overrides(tps=0, duration=10), "--tps must be greater than 0, got 0"),
])
def test_bad_overrides_are_one_line_naming_the_problem(overrides, message):
    with pytest.raises(ScenarioError) as refused:
        resolve_scenario("smoke", overrides)
    assert str(refused.value) == message


def test_ceilings_apply_to_the_scaled_scenario():
    ceilings = Ceilings(max_tps=150, max_duration_s=30)
    # smoke: 100 TPS for 20 s, within both
    assert resolve_scenario("smoke", ceilings=ceilings).duration == 20
    # Scaled past them, the refusal says which ceiling, the value and the ceiling
    with pytest.raises(AboveCeiling) as above:
        resolve_scenario("smoke", scales=Scales(load=2), ceilings=ceilings)
    assert (above.value.limit, above.value.value, above.value.ceiling) == ("tps", 200, 150)
    with pytest.raises(AboveCeiling) as above:
        resolve_scenario("smoke", scales=Scales(time=2), ceilings=ceilings)
    assert (above.value.limit, above.value.value, above.value.ceiling) == ("duration", 40, 30)


def test_a_bundled_name_is_never_read_as_a_path(tmp_path, monkeypatch):
    # Given a working directory holding something named like a bundled scenario
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").mkdir()
    # Then a name or path (the CLI's) reads it, a bundled name (the server's) does not
    with pytest.raises(ScenarioError, match="cannot read smoke"):
        resolve_scenario("smoke")
    assert resolve_scenario("smoke", bundled_only=True).name == "smoke"
    with pytest.raises(ScenarioError) as unknown:
        resolve_scenario("nope", bundled_only=True, scenarios_dir=SCENARIOS_DIR)
    assert str(unknown.value).startswith("unknown scenario 'nope'; known: burst, ")


def test_the_cli_the_local_server_and_aws_planning_resolve_alike():
    # Given the same scenario, constant rate and scales through each runtime's entry
    args = build_parser().parse_args(["run", "smoke", "--tps", "300", "--duration", "60",
                                      "--time-scale", "0.5", "--load-scale", "2"])
    assert isinstance(args, argparse.Namespace)
    from_cli = cli_resolve_spec(args)
    start = StartRun(scenario="smoke", tps=300, duration=60, time_scale=0.5, load_scale=2)
    from_server = build_spec(start, ServerSettings())
    folded = load_scenario("smoke").at_constant_rate(300, 60)
    from_aws, _ = resolve_spec(parse_run_input({
        "scenario": folded.model_dump(mode="json", exclude_defaults=True), "time_scale": 0.5,
        "load_scale": 2, "target_stream": "s"}), AwsCeilings(max_tps=1e6, max_duration_s=1e6))
    # Then they run the same spec
    assert from_cli == from_server == from_aws
    # and each words a ceiling for its own users, as before
    with pytest.raises(BadRequest, match=r"^tps: at most 20,000 TPS for a run started here; "
                                         r"this one peaks at 30,000$"):
        build_spec(StartRun(scenario="smoke", tps=30_000, duration=10), ServerSettings())
    with pytest.raises(InvalidRun, match=r"^scenario: peak 600 TPS is above the ceiling of "
                                         r"500 TPS$"):
        resolve_spec(parse_run_input({"scenario": "smoke", "load_scale": 6, "target_stream": "s"}),
                     AwsCeilings(max_tps=500, max_duration_s=1e6))
