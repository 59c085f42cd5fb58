"""The worker reads the decision through the target section's response mapping, on a fake clock;
answers it cannot read are invalid_response with up to three samples, which summary.json keeps
only when there are some."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stresslab.generation.plan import WorkAssignment
from stresslab.generation.worker import ShardWorker
from stresslab.judgement.summary import InvalidAnswers
from stresslab.judgement.summary_model import RunSummary
from stresslab.measurement.metrics import WindowStats
from stresslab.ports import Outcome
from stresslab.scenario.spec import parse_scenario
from tests.fakes import FakeClock, ListSink, ScriptedTarget

GOLDEN = Path(__file__).parent / "summary_golden"
MAPPING = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}


def partner_spec(**response: Any) -> Any:
    return parse_scenario({
        "name": "partner",
        "phases": [{"shape": "constant", "tps": 30, "duration": 1}],
        "target": {"url": "http://127.0.0.1:9/api/v2/assess",
                   "response": {"decision": "outcome.action", "decision_map": MAPPING,
                                **response}},
    }, "test")


async def run(spec: Any, answers: list[Any]) -> tuple[WindowStats, ShardWorker]:
    clock = FakeClock()
    state = {"n": 0}

    def answer(_payload: Any) -> Outcome:
        body = answers[state["n"] % len(answers)]
        state["n"] += 1
        return Outcome("ok", body)

    sink = ListSink()
    assignment = WorkAssignment(run_id="run", worker_id="w0-s0", wave=0, shard=0, shards=1,
                                start_s=0, end_s=1, run_started_at=clock.wall())
    worker = ShardWorker(assignment, spec, ScriptedTarget(clock, answer=answer), sink, clock)
    await clock.drive(worker.run())
    total = WindowStats()
    for batch in sink.batches:
        total.add_batch(batch)
    return total, worker


async def test_the_platforms_values_are_scored_as_the_mapping_says() -> None:
    answers = [{"outcome": {"action": "DECLINE"}}, {"outcome": {"action": "ACCEPT"}},
               {"outcome": {"action": "CHALLENGE"}}]
    stats, worker = await run(partner_spec(), answers)
    assert stats.ok == 30 and stats.error_total == 0
    assert stats.decisions == {"block": 10, "approve": 10, "review": 10}
    assert stats.tp + stats.fp == 20  # block and review are flagged
    assert worker.invalid.count == 0


async def test_the_top_level_decision_is_not_read_when_the_section_maps_another_path() -> None:
    stats, worker = await run(partner_spec(), [{"decision": "block", "outcome": {}}])
    assert stats.ok == 0 and stats.errors["invalid_response"] == 30
    assert worker.invalid.count == 30
    assert worker.invalid.samples == [
        'decision path outcome.action missing: {"decision":"block","outcome":{}}'] * 3


async def test_a_score_and_threshold_decide_and_agents_are_read_from_their_path() -> None:
    spec = partner_spec(decision=None, decision_map=None, score="risk.score", threshold=0.8,
                        agents="risk.agents")
    body = {"risk": {"score": 0.9, "agents": {"velocity": {"ms": 3}}}}
    stats, _ = await run(spec, [body])
    assert stats.decisions == {"block": 30}
    assert stats.agent_calls == {"velocity": 30}


def test_summary_json_has_invalid_responses_only_when_there_are_some() -> None:
    data = json.loads((GOLDEN / "local.json").read_text())
    summary = RunSummary.model_validate(data)
    assert "invalid_responses" not in summary.to_json_dict()
    answers = InvalidAnswers()
    answers.add(2, ["a", "b"])
    answers.add(5, ["c", "d"])
    summary.invalid_responses = answers.report()
    written = summary.to_json_dict()
    assert written["invalid_responses"] == {"count": 7, "samples": ["a", "b", "c"]}
    assert RunSummary.model_validate(written).invalid_responses == answers.report()
