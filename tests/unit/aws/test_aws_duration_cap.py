"""The longest run AWS can hold: the per-second series must fit a DynamoDB item (the run's
record) and a WebSocket frame (the run's description in every snapshot)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stresslab.aws.planning import (
    DYNAMODB_ITEM_LIMIT,
    RUN_RECORD_BUDGET,
    SNAPSHOT_RUN_BUDGET,
    WEBSOCKET_FRAME_LIMIT,
    Ceilings,
    InvalidRun,
    parse_run_input,
    plan_execution,
)
from stresslab.measurement.live import describe_run
from stresslab.scenario.spec import ScenarioSpec

# The context allows max_duration_s up to a day.
CEILINGS = Ceilings(max_tps=10_000, max_duration_s=86_400, max_workers=100)


class Registry:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def create_run(self, run_id: str, started_at: str, record: dict[str, Any]) -> None:
        self.records[run_id] = record


def _scenario(seconds: int) -> dict[str, Any]:
    # A fractional rate: every second's expected arrivals take as many digits as they can
    return {"name": "soak", "workers": 2,
            "phases": [{"name": "hold", "shape": "constant", "tps": 777.777,
                        "duration": f"{seconds}s"}]}


def _plan(seconds: int, registry: Registry) -> Any:
    return plan_execution(
        parse_run_input({"scenario": _scenario(seconds), "target_url": "https://api.example/s"}),
        f"run-{seconds}", "arn:exec", now=1000.0, ceilings=CEILINGS, fault_templates={},
        registry=registry,
    )


def test_a_day_long_run_is_refused_at_the_cap_where_record_or_snapshot_would_overflow() -> None:
    registry = Registry()

    # When a 24-hour scenario (within the context's ceiling) is planned
    with pytest.raises(InvalidRun) as refused:
        _plan(86_400, registry)

    # Then it is refused before anything is recorded, in one line naming the limit and the cap
    message = str(refused.value)
    assert "\n" not in message and registry.records == {}
    assert message.startswith("scenario: duration 86400s is above the ")
    assert message.endswith("would overflow the 128 KB WebSocket frame")
    cap = int(message.split("above the ")[1].split("s ")[0])

    # When a run of exactly the cap is planned, it is accepted, and one a tenth longer is not
    planned = _plan(cap, registry)
    with pytest.raises(InvalidRun):
        _plan(cap + cap // 10, Registry())

    # Then at the cap the run's record fits its share of a DynamoDB item, and its description
    # (sent in every snapshot) its share of a WebSocket frame
    record = registry.records[f"run-{cap}"]
    assert len(json.dumps(record)) <= RUN_RECORD_BUDGET < DYNAMODB_ITEM_LIMIT
    live = describe_run(ScenarioSpec.model_validate(planned.spec), planned.run_id, "t",
                        "running", record["target"], record["plan"]["expected_per_second"])
    assert len(live.model_dump_json()) <= SNAPSHOT_RUN_BUDGET < WEBSOCKET_FRAME_LIMIT
    assert cap >= 3_600  # an hour-long soak still fits


def test_two_hours_at_the_default_ceiling_are_accepted() -> None:
    registry = Registry()
    planned = _plan(7_200, registry)
    assert planned.run_id == "run-7200"
