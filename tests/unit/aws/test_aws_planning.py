"""Run input, ceilings and the state machine's plan (no AWS: a fake registry)."""

from __future__ import annotations

from typing import Any

import pytest

from stresslab.aws.planning import (
    Ceilings,
    InvalidRun,
    parse_run_input,
    plan_execution,
    resolve_spec,
)
from stresslab.generation.plan import plan_run
from stresslab.scenario.spec import parse_scenario

CEILINGS = Ceilings(max_tps=10_000, max_duration_s=3 * 3600, max_workers=100)
SCENARIO = {
    "name": "long", "workers": 2,
    "phases": [{"name": "climb", "shape": "ramp", "from_tps": 100, "to_tps": 2000,
                "duration": "5m"},
               {"name": "hold", "shape": "constant", "tps": 2000, "duration": "20m"}],
    "faults": [{"type": "latency", "at": "6m", "duration": "1m"},
               {"type": "slow_store", "at": "8m", "duration": "1m"}],
}


class Registry:
    def __init__(self) -> None:
        self.runs: dict[str, tuple[str, dict[str, Any]]] = {}

    def create_run(self, run_id: str, started_at: str, record: dict[str, Any]) -> None:
        self.runs[run_id] = (started_at, record)


def run_input(**overrides: Any) -> Any:
    return parse_run_input({"scenario": SCENARIO, "target_url": "https://api.example/score",
                            **overrides})


def test_waves_of_ten_minutes_launch_before_they_start_and_faults_need_a_template() -> None:
    # Given a 25-minute scenario and FIS templates for latency only
    registry = Registry()

    # When it is planned
    planned = plan_execution(run_input(), "run-1", "arn:exec", now=1000.0, ceilings=CEILINGS,
                             fault_templates={"latency": "EXT1"}, registry=registry,
                             start_margin_s=10, launch_lead_s=30)

    # Then three waves (<= 600 s each) start back to back at absolute times, each launched
    # 30 s early so the next one is running when the previous one ends
    assert [(w.start_s, w.end_s) for w in planned.waves] == [(0, 600), (600, 1200),
                                                             (1200, 1500)]
    assert [w.start_at for w in planned.waves] == [1010.0, 1610.0, 2210.0]
    assert planned.waves[1].launch_at == "1970-01-01T00:26:20.000Z"
    assert planned.shard_count == 4 == len(planned.shards)  # 2000 TPS at 500 per worker
    assert planned.max_concurrency == 4
    assert [(f.type, f.template_id, f.start_at) for f in planned.faults] == [
        ("latency", "EXT1", "1970-01-01T00:22:50.000Z")]
    started_at, record = registry.runs["run-1"]
    assert record["notes"] == ["fault slow_store:all at 480s skipped: no FIS template"]
    spec = parse_scenario(SCENARIO, "s")
    assert record["plan"]["scheduled_total"] == plan_run(spec, "run-1").scheduled_total


@pytest.mark.parametrize(("overrides", "message"), [
    ({"load_scale": 10}, "scenario: peak 20000 TPS is above the ceiling of 10000 TPS"),
    ({"time_scale": 10}, "scenario: duration 15000s is above the ceiling of 10800s"),
    ({"workers": 101}, "workers: 101 is above the ceiling of 100"),
    ({"max_concurrency": 2},
     "max_concurrency: 2 is below workers (4); every shard of a wave must run at once"),
])
def test_runs_above_a_ceiling_are_refused_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRun) as refused:
        resolve_spec(run_input(**overrides), CEILINGS)
    assert str(refused.value) == message


@pytest.mark.parametrize(("data", "start"), [
    ({"scenario": SCENARIO}, "target_url, target_stream: give exactly one of them"),
    ({"scenario": SCENARIO, "target_url": "ftp://x"}, "target_url: String should match"),
    ({"scenario": SCENARIO, "target_url": "https://x", "extra": 1}, "extra: Extra inputs"),
    ({"scenario": SCENARIO, "target_stream": "s", "tolerated_failure_pct": 101},
     "tolerated_failure_pct: Input should be less than or equal to 100"),
    ([], "input: expected a JSON object"),
])
def test_bad_input_is_one_line_naming_the_field(data: Any, start: str) -> None:
    with pytest.raises(InvalidRun) as refused:
        parse_run_input(data)
    assert str(refused.value).startswith(start)
    assert "\n" not in str(refused.value)


def test_a_bad_scenario_names_the_scenario_field() -> None:
    bad = {**SCENARIO, "phases": [{"shape": "constant", "tps": -1, "duration": "1m"}]}
    with pytest.raises(InvalidRun) as refused:
        resolve_spec(parse_run_input({"scenario": bad, "target_stream": "s"}), CEILINGS)
    assert str(refused.value).startswith("scenario: phases.0.tps:")
