"""Reading answers: decision by path and map, or by score; invalid answers kept as samples."""

from __future__ import annotations

from typing import Any

import pytest

from stresslab.targets.config import ResponseMapping
from stresslab.targets.response import (
    INVALID_RESPONSE,
    InvalidSamples,
    ReadAnswer,
    ResponseReader,
    compile_path,
)

PARTNER = ResponseMapping(
    decision="outcome.action",
    decision_map={"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"},
    agents="outcome.agents",
)


@pytest.mark.parametrize(("answer", "expected"), [
    ({"outcome": {"action": "DECLINE"}}, ReadAnswer("block")),
    ({"outcome": {"action": "CHALLENGE", "agents": [{"n": "geo"}]}},
     ReadAnswer("review", [{"n": "geo"}])),
    ({"outcome": {"action": "ACCEPT"}}, ReadAnswer("approve")),
    ({"outcome": {}}, ReadAnswer(INVALID_RESPONSE, None, "decision path outcome.action missing")),
    ({"outcome": "DECLINE"},
     ReadAnswer(INVALID_RESPONSE, None, "decision path outcome.action missing")),
    ([], ReadAnswer(INVALID_RESPONSE, None, "decision path outcome.action missing")),
    ({"outcome": {"action": "MAYBE"}},
     ReadAnswer(INVALID_RESPONSE, None,
                'unmapped value "MAYBE" at outcome.action (decision_map has DECLINE, CHALLENGE, '
                "ACCEPT)")),
    ({"outcome": {"action": None}},
     ReadAnswer(INVALID_RESPONSE, None,
                "unmapped value null at outcome.action (decision_map has DECLINE, CHALLENGE, "
                "ACCEPT)")),
])
def test_decision_by_path_and_map(answer: Any, expected: ReadAnswer) -> None:
    assert ResponseReader(PARTNER).read(answer) == expected


def test_without_a_map_the_value_must_be_a_decision() -> None:
    reader = ResponseReader(ResponseMapping())
    assert reader.read({"decision": "block"}) == ReadAnswer("block")
    assert reader.read({"decision": "BLOCK"}) == ReadAnswer(
        INVALID_RESPONSE, None, '"BLOCK" at decision is not approve, review or block '
        "(add a decision_map)"
    )


def test_numeric_platform_values_map_through_their_text() -> None:
    reader = ResponseReader(ResponseMapping(decision="r.code", decision_map={"0": "approve",
                                                                            "2": "block"}))
    assert reader.read({"r": {"code": 2}}).decision == "block"
    assert not reader.read({"r": {"code": True}}).valid


@pytest.mark.parametrize(("score", "decision"), [
    (0.1, "approve"), (0.5, "review"), (0.79, "review"), (0.8, "block"), (1, "block"),
])
def test_score_and_thresholds(score: float, decision: str) -> None:
    reader = ResponseReader(ResponseMapping(score="risk.score", threshold=0.8,
                                            review_threshold=0.5))
    assert reader.read({"risk": {"score": score}}) == ReadAnswer(decision)


@pytest.mark.parametrize(("answer", "problem"), [
    ({"risk": {}}, "score path risk.score missing"),
    ({"risk": {"score": "high"}}, "score at risk.score is not a number"),
    ({"risk": {"score": True}}, "score at risk.score is not a number"),
])
def test_a_score_that_cannot_be_read(answer: Any, problem: str) -> None:
    reader = ResponseReader(ResponseMapping(score="risk.score", threshold=0.8))
    assert reader.read(answer) == ReadAnswer(INVALID_RESPONSE, None, problem)


def test_list_indexes_in_paths() -> None:
    get = compile_path("results.1.action")
    assert get({"results": [{"action": "a"}, {"action": "b"}]}) == "b"
    with pytest.raises(KeyError):
        get({"results": [{"action": "a"}]})


def test_success_statuses() -> None:
    assert ResponseReader(ResponseMapping()).is_success(204)
    assert not ResponseReader(ResponseMapping()).is_success(302)
    custom = ResponseReader(ResponseMapping(success_statuses=[200, 202]))
    assert custom.is_success(202) and not custom.is_success(201)


def test_the_sampler_keeps_three_truncated_masked_answers_and_counts_all() -> None:
    sampler = InvalidSamples(mask=lambda text: text.replace("s3cret", "***"), chars=20)
    sampler.offer(b'{"error": "bad key s3cret"}', "decision path outcome.action missing")
    sampler.offer("x" * 50)
    sampler.offer("<html>")
    sampler.offer("fourth")
    assert sampler.count == 4
    assert sampler.samples == [
        'decision path outcome.action missing: {"error": "bad key *… (24 chars)',
        "x" * 20 + "… (50 chars)",
        "<html>",
    ]
