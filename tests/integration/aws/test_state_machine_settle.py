"""Evaluate that runs out of time before every batch is merged raises MetricsNotSettled, and
the state machine (moto's interpreter, the real ASL) retries it until the data is in."""

from __future__ import annotations

import json
from typing import Any

from lambdas import control_api, evaluate

from .sfn_harness import FakeContext
from .test_state_machine import Machine, StreamPump, machine, operator_event, scenario
from .world import ScoreServer

__all__ = ["machine"]  # the state machine fixture


def test_evaluate_is_retried_until_every_batch_is_merged(
    machine: Machine, score_server: ScoreServer,
) -> None:
    # Given the aggregator is not reading the stream yet, and Evaluate's first invocation
    # has little time left (it keeps 120 s for judging)
    pumps: list[StreamPump] = []

    def evaluate_late(event: dict[str, Any], context: FakeContext) -> Any:
        if not pumps:
            pumps.append(StreamPump(machine.world).__enter__())
            context.remaining_ms = 121_000
        return evaluate.handler(event, context)

    machine.lambdas.register("evaluate", evaluate_late)
    started = control_api.handler(operator_event("POST", "/runs", {
        "scenario": scenario(2), "target_url": score_server.url}), FakeContext())
    assert started["statusCode"] == 202, started

    # When the execution runs
    try:
        done = machine.wait(json.loads(started["body"])["execution_arn"], timeout=120)
    finally:
        for pump in pumps:
            pump.__exit__()

    # Then the first Evaluate said the metrics had not settled, the retry judged all of them
    assert done["status"] == "SUCCEEDED", done
    outcomes = [outcome for name, _, outcome in machine.lambdas.calls if name == "evaluate"]
    assert len(outcomes) == 2 and outcomes[0].startswith("MetricsNotSettled: ")
    assert outcomes[1] == "ok"
    output = json.loads(done["output"])
    assert output["status"] == "completed" and output["workers_failed"] == []
