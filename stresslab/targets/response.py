"""Reading a target's answer: status, decision (by path, map or score) and the agents' report."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from stresslab.targets.config import ResponseMapping

DECISIONS = frozenset({"approve", "review", "block"})
INVALID_RESPONSE = "invalid_response"
SAMPLE_CHARS = 200
MAX_SAMPLES = 3
MAX_USAGE_AGENTS = 64  # agents read from one answer's usage; more are a hostile answer
MAX_TOKENS = 10_000_000  # per agent call; a larger count is not a model call's


class AnswerUsage(NamedTuple):
    """Model tokens one answer reported, summed over its agents; `modelled` when the answer
    says its figures are a model's (usage.basis: modelled), not counted calls."""

    input_tokens: int
    output_tokens: int
    modelled: bool = False


@dataclass(frozen=True, slots=True)
class ReadAnswer:
    """A decision (approve/review/block) or invalid_response with the reason; the agents part."""

    decision: str
    agents: Any = None
    problem: str | None = None
    usage: AnswerUsage | None = None  # model tokens the answer reported

    @property
    def valid(self) -> bool:
        return self.decision != INVALID_RESPONSE


def compile_path(path: str) -> Callable[[Any], Any]:
    """A dotted path (outcome.action, agents.0.name) as a getter; KeyError when it is missing."""
    keys = tuple(path.split("."))

    def get(answer: Any) -> Any:
        value = answer
        for key in keys:
            if isinstance(value, dict):
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                raise KeyError(key)
        return value

    return get


class ResponseReader:
    """Maps an answer to a decision as the scenario's `response:` section says."""

    def __init__(self, mapping: ResponseMapping) -> None:
        self._mapping = mapping
        statuses = mapping.success_statuses
        self._success = frozenset(statuses) if statuses else frozenset(range(200, 300))
        path = mapping.decision_path
        self._decision_path = path
        self._decision = compile_path(path) if path else None
        self._score = compile_path(mapping.score) if mapping.score else None
        self._agents = compile_path(mapping.agents) if mapping.agents else None
        self._usage = compile_path(mapping.usage) if mapping.usage else None
        self._map = mapping.decision_map

    def is_success(self, status: int) -> bool:
        return status in self._success

    def read(self, answer: Any) -> ReadAnswer:
        read = self._decide(answer)
        if self._usage is not None and read.valid:
            try:
                usage = read_usage(self._usage(answer))
            except KeyError:
                usage = None
            if usage is not None:
                return ReadAnswer(read.decision, read.agents, read.problem, usage)
        return read

    def _decide(self, answer: Any) -> ReadAnswer:
        agents = self._read_agents(answer)
        if self._score is not None:
            return self._by_score(answer, agents)
        assert self._decision is not None
        try:
            value = self._decision(answer)
        except KeyError:
            problem = f"decision path {self._decision_path} missing"
            return ReadAnswer(INVALID_RESPONSE, agents, problem)
        if self._map is not None:
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                mapped = self._map.get(str(value))
                if mapped is not None:
                    return ReadAnswer(mapped, agents)
            return ReadAnswer(
                INVALID_RESPONSE, agents,
                f"unmapped value {_short(value)} at {self._decision_path} "
                f"(decision_map has {', '.join(self._map)})",
            )
        if isinstance(value, str) and value in DECISIONS:
            return ReadAnswer(value, agents)
        return ReadAnswer(
            INVALID_RESPONSE, agents,
            f"{_short(value)} at {self._decision_path} is not approve, review or block "
            "(add a decision_map)",
        )

    def _by_score(self, answer: Any, agents: Any) -> ReadAnswer:
        assert self._score is not None and self._mapping.threshold is not None
        where = self._mapping.score
        try:
            score = self._score(answer)
        except KeyError:
            return ReadAnswer(INVALID_RESPONSE, agents, f"score path {where} missing")
        number = isinstance(score, int | float) and not isinstance(score, bool)
        if not number or not math.isfinite(score):
            return ReadAnswer(INVALID_RESPONSE, agents, f"score at {where} is not a number")
        if score >= self._mapping.threshold:
            return ReadAnswer("block", agents)
        review = self._mapping.review_threshold
        return ReadAnswer("review" if review is not None and score >= review else "approve", agents)

    def _read_agents(self, answer: Any) -> Any:
        if self._agents is None:
            return None
        try:
            return self._agents(answer)
        except KeyError:
            return None


def _tokens(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    return None


def read_usage(usage: Any, max_agents: int = MAX_USAGE_AGENTS) -> AnswerUsage | None:
    """Tokens from {agent: {input_tokens, output_tokens}} or one such pair; None when the
    answer reports none. At most `max_agents` agents are read; a count that is not a plausible
    whole number of tokens is left out."""
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage or "output_tokens" in usage:
        reports: list[Any] = [usage]
    else:
        reports = [report for _, report in zip(range(max_agents), usage.values(), strict=False)]
    seen, total_in, total_out = False, 0, 0
    for report in reports:
        if not isinstance(report, dict):
            continue
        tokens_in, tokens_out = _tokens(report.get("input_tokens")), \
            _tokens(report.get("output_tokens"))
        if tokens_in is None and tokens_out is None:
            continue
        seen = True
        total_in += tokens_in or 0
        total_out += tokens_out or 0
    if not seen:
        return None
    return AnswerUsage(total_in, total_out, usage.get("basis") == "modelled")


def _short(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 60 else text[:57] + "..."


class InvalidSamples:
    """Up to three answers that could not be read, truncated, for the summary and the probe."""

    def __init__(
        self, mask: Callable[[str], str] = str, limit: int = MAX_SAMPLES, chars: int = SAMPLE_CHARS
    ) -> None:
        self._mask = mask
        self._limit = limit
        self._chars = chars
        self.samples: list[str] = []
        self.count = 0

    def offer(self, answer: bytes | str, problem: str | None = None) -> None:
        self.count += 1
        if len(self.samples) >= self._limit:
            return
        text = answer.decode("utf-8", errors="replace") if isinstance(answer, bytes) else answer
        text = self._mask(text)  # before truncating, so a secret cut in half is still masked
        if len(text) > self._chars:
            text = text[: self._chars] + f"… ({len(text)} chars)"
        self.samples.append(f"{problem}: {text}" if problem else text)
