"""The orchestrator: runs the agents the degradation level allows, turns scores into a decision."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from reference_service.agents import AGENT_SCORERS, Evidence, Verdict
from reference_service.capacity import AgentLane
from reference_service.config import (
    AGENT_NAMES,
    AgentName,
    DecisionPolicy,
    DegradationLevel,
    DetectionRules,
    TargetConfig,
)
from reference_service.faults import FaultState, happens
from reference_service.memory import CardContext, CardMemory, TrafficCount
from reference_service.payload import Transaction

Decision = Literal["approve", "review", "block"]

ACTIVE_AGENTS: Mapping[DegradationLevel, tuple[AgentName, ...]] = MappingProxyType(
    {
        DegradationLevel.NONE: AGENT_NAMES,
        DegradationLevel.MODERATE: ("transaction_analysis", "pattern_velocity", "geographic_risk"),
        DegradationLevel.SEVERE: ("transaction_analysis", "pattern_velocity"),
        DegradationLevel.CRITICAL: (),
    }
)
MAX_REASONS = 8
MIN_REASON_SCORE = 0.1
# The agents here are rules and call no model. The answer declares, per agent call, the tokens a
# model-backed agent doing the same job would use (its prompt: rules and output schema ~700,
# the transaction and what it consults as JSON, tool definitions), so that stresslab prices a
# run of this stand-in like a platform of LLM agents and says the cost is modelled. The basis
# and sources are in config/pricing.yaml (modelled_agent_call).
MODELLED_USAGE: Mapping[AgentName, Mapping[str, int]] = MappingProxyType({
    "transaction_analysis": MappingProxyType({"input_tokens": 1400, "output_tokens": 180}),
    "pattern_velocity": MappingProxyType({"input_tokens": 1900, "output_tokens": 180}),
    "geographic_risk": MappingProxyType({"input_tokens": 1300, "output_tokens": 150}),
    "compliance": MappingProxyType({"input_tokens": 1600, "output_tokens": 220}),
})


class ScoringRefused(Exception):
    """The request gets no decision; `status` and `error` say why."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class Throttled(ScoringRefused):
    def __init__(self) -> None:
        super().__init__(429, "throttled")


class AgentFailed(ScoringRefused):
    def __init__(self, agent: AgentName, *, unavailable: bool) -> None:
        if unavailable:
            super().__init__(503, f"agent {agent} unavailable")
        else:
            super().__init__(500, f"agent {agent} failed")


class AgentReport(NamedTuple):
    verdict: Verdict
    ms: float


@dataclass(frozen=True, slots=True)
class Assessment:
    """The answer to one transaction, shaped like the /v1/score response."""

    transaction_id: str
    decision: Decision
    risk_score: float
    reasons: list[str]
    agents: dict[AgentName, AgentReport]
    processing_ms: float
    degradation: DegradationLevel

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "decision": self.decision,
            "risk_score": self.risk_score,
            "reasons": self.reasons,
            "agents": {
                name: {
                    "score": report.verdict.score,
                    "reasons": report.verdict.reasons,
                    "ms": round(report.ms, 3),
                }
                for name, report in self.agents.items()
            },
            "processing_ms": round(self.processing_ms, 3),
            "degradation": self.degradation.value,
            "usage": modelled_usage(tuple(self.agents)),
        }


@functools.cache
def modelled_usage(names: tuple[AgentName, ...]) -> dict[str, Any]:
    """The answer's usage block for the agents called (one per set of agents; read-only,
    it is only ever serialised)."""
    return {"basis": "modelled", **{name: dict(MODELLED_USAGE[name]) for name in names}}


def decide(risk: float, policy: DecisionPolicy, *, hard_block: bool = False) -> Decision:
    if hard_block or risk >= policy.block_threshold:
        return "block"
    if risk >= policy.review_threshold:
        return "review"
    return "approve"


def combine(
    verdicts: Mapping[AgentName, Verdict], policy: DecisionPolicy
) -> tuple[float, Decision]:
    """Weighted noisy-OR of agent scores, plus a max rule: one agent sure enough blocks alone."""
    clear = 1.0
    hard_block = False
    for name, verdict in verdicts.items():
        clear *= 1.0 - policy.weights.get(name, 1.0) * verdict.score
        hard_block = hard_block or verdict.score >= policy.hard_block_score
    risk = round(1.0 - clear, 4)
    return risk, decide(risk, policy, hard_block=hard_block)


def explain(verdicts: Iterable[Verdict], *, detail: bool) -> list[str]:
    """All notable signals ranked across agents; without detail, only the strongest one."""
    signals = sorted(
        (signal for verdict in verdicts for signal in verdict.signals),
        key=lambda signal: -signal[0],
    )
    reasons: list[str] = []
    for score, reason in signals:
        if score < MIN_REASON_SCORE or len(reasons) == (MAX_REASONS if detail else 1):
            break
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def emergency_verdict(txn: Transaction, ctx: CardContext, rules: DetectionRules) -> Verdict:
    """CRITICAL mode: a few hard rules in place of the agents."""
    evidence = Evidence()
    places = (txn.country, txn.merchant_country, txn.card_country)
    sanctioned = sorted({place for place in places if place in rules.sanctioned_countries})
    if sanctioned:
        evidence.add(0.97, f"emergency rule: sanctioned country {', '.join(sanctioned)}")
    now = txn.timestamp
    burst_ticks = rules.burst.ticks(ctx.active_cards)
    recent = [
        use
        for use in ctx.recent
        if ctx.tick - use.tick <= burst_ticks and abs(now - use.timestamp) <= rules.burst.seconds
    ]
    if len(recent) + 1 >= rules.burst.limit:
        evidence.add(0.6, f"emergency rule: {len(recent) + 1} transactions in a burst")
    usd = txn.usd_amount
    if usd is None:
        return evidence.verdict()
    tiny = 1 + sum(1 for use in recent if use.usd < rules.tiny_amount_usd)
    if usd < rules.tiny_amount_usd and tiny >= rules.card_testing.limit:
        evidence.add(0.85, f"emergency rule: {tiny} tiny amounts in a burst")
    if txn.mcc in rules.high_risk_mccs and usd >= rules.high_risk_mcc_amount_usd:
        evidence.add(0.6, f"emergency rule: ${usd:,.0f} at high-risk category {txn.mcc}")
    if usd >= rules.large_amount_usd:
        evidence.add(0.5, f"emergency rule: amount above ${rules.large_amount_usd:,.0f}")
    return evidence.verdict()


class Orchestrator:
    """Scores a transaction through the agent lanes, under the faults and degradation in force."""

    def __init__(
        self, config: TargetConfig, faults: FaultState, rng: random.Random,
        traffic: TrafficCount | None = None,
    ) -> None:
        self._config = config
        self._rules = config.rules
        self._faults = faults
        self._rng = rng
        self.degradation = config.degradation
        self.lanes: dict[AgentName, AgentLane] = {
            name: AgentLane(config.agent(name), rng) for name in AGENT_NAMES
        }
        self.memory = CardMemory(config.memory, config.rules, traffic)

    async def assess(self, txn: Transaction) -> Assessment:
        started = perf_counter()
        level = self.degradation
        faults = self._faults
        if faults:
            await self._request_faults()
        ctx, history = self.memory.observe(txn)
        if level is DegradationLevel.CRITICAL:
            verdict = emergency_verdict(txn, ctx, self._rules)
            risk = verdict.score
            decision = decide(risk, self._config.decision)
            reasons = explain([verdict], detail=True)
            reports: dict[AgentName, AgentReport] = {}
        else:
            reports = await self._consult_agents(ACTIVE_AGENTS[level], txn, ctx)
            verdicts = {name: report.verdict for name, report in reports.items()}
            risk, decision = combine(verdicts, self._config.decision)
            reasons = explain(verdicts.values(), detail="compliance" in verdicts)
        if decision == "approve":
            history.learn(txn, self._config.memory)
        return Assessment(
            transaction_id=txn.transaction_id,
            decision=decision,
            risk_score=risk,
            reasons=reasons,
            agents=reports,
            processing_ms=(perf_counter() - started) * 1000,
            degradation=level,
        )

    def health(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """Each agent's state; with `now` (monotonic, as the loop's clock) from another thread."""
        afar = now is not None
        now = asyncio.get_running_loop().time() if now is None else now
        report: dict[str, dict[str, Any]] = {}
        for name, lane in self.lanes.items():
            in_flight, queued = lane.peek_load(now) if afar else lane.load(now)
            healthy = self._faults.down_fraction(name) == 0
            report[name] = {"healthy": healthy, "in_flight": in_flight, "queued": queued}
        return report

    async def _request_faults(self) -> None:
        faults = self._faults
        if self._happens(faults.fraction("throttle", None)):
            raise Throttled()
        store_ms = faults.added_ms("slow_store", None)
        if store_ms > 0:
            await asyncio.sleep(store_ms / 1000)

    def _admit(self, names: tuple[AgentName, ...], now: float) -> AgentName | None:
        """Refuse the request unless every agent can take it; returns an agent fated to fail."""
        faults = self._faults
        if not faults:
            lanes = self.lanes
            for name in names:
                if not lanes[name].has_room(now):
                    raise Throttled()
            return None
        for name in names:
            if self._happens(faults.down_fraction(name)):
                raise AgentFailed(name, unavailable=True)
            if self._happens(faults.fraction("throttle", name)):
                raise Throttled()
            if not self.lanes[name].has_room(now):
                raise Throttled()
        if self._happens(faults.fraction("agent_errors", None)):
            return self._rng.choice(names)
        return None

    async def _consult_agents(
        self, names: tuple[AgentName, ...], txn: Transaction, ctx: CardContext
    ) -> dict[AgentName, AgentReport]:
        """Call the agents in parallel; the answer waits for the slowest of them."""
        now = asyncio.get_running_loop().time()
        doomed = self._admit(names, now)
        lanes, faults = self.lanes, self._faults
        done_at: dict[AgentName, float] = {}
        for name in names:
            lane = lanes[name]
            service_s = lane.service_time.sample()
            if faults:
                service_s += self._added_latency_s(name)
            done_at[name] = lane.schedule(now, service_s)
        wait_s = max(done_at.values()) - now
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        reports: dict[AgentName, AgentReport] = {}
        rules = self._rules
        for name in names:
            computing = perf_counter()
            verdict = AGENT_SCORERS[name](txn, ctx, rules)
            if name == doomed or (faults and self._fails(name)):  # faults may have come since
                raise AgentFailed(name, unavailable=False)
            waited_ms = (done_at[name] - now) * 1000
            reports[name] = AgentReport(verdict, waited_ms + (perf_counter() - computing) * 1000)
        return reports

    def _added_latency_s(self, name: AgentName) -> float:
        faults = self._faults
        if not faults:
            return 0.0
        # A latency fault without an agent slows every agent it reaches.
        return (faults.added_ms("latency", name) + faults.added_ms("latency", None)) / 1000

    def _fails(self, name: AgentName) -> bool:
        faults = self._faults
        return bool(faults) and self._happens(faults.fraction("agent_errors", name))

    def _happens(self, chance: float) -> bool:
        return happens(self._rng, chance)
