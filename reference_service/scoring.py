"""What the scoring face answers (/v1/score, /v1/stats, /health), whatever carries the HTTP."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from reference_service.cluster import ClusterRole, MemberAdmins, MemberUnreachable
from reference_service.config import TargetConfig
from reference_service.faults import FaultCaps, FaultState, happens
from reference_service.orchestrator import Orchestrator, ScoringRefused
from reference_service.payload import UNKNOWN_RUN, InvalidTransaction, parse_transaction, run_id_of
from reference_service.stats import DROPPED, ScoreCounters, merge_described

_NOT_JSON = object()


@dataclass(slots=True)
class TargetState:
    """Everything one running target holds; handlers only translate HTTP to calls on it."""

    config: TargetConfig
    faults: FaultState
    orchestrator: Orchestrator
    counters: ScoreCounters
    rng: random.Random
    cluster: ClusterRole | None = None  # one of several processes: forwards others' cards
    members: MemberAdmins | None = None  # process 0 of several: admin changes fan out
    scoring_members: MemberAdmins | None = None  # the same, from the scoring loop (/v1/stats)


def new_state(config: TargetConfig, cluster: ClusterRole | None = None) -> TargetState:
    rng = random.Random(config.seed)
    caps = FaultCaps(max_faults=config.max_faults, max_added_ms=config.max_added_ms,
                     max_duration_s=config.max_fault_duration_s)
    faults = FaultState(clock=time.monotonic, caps=caps)
    return TargetState(
        config=config,
        faults=faults,
        orchestrator=Orchestrator(config, faults, rng,
                                  cluster.traffic if cluster is not None else None),
        counters=ScoreCounters(config.max_tracked_runs),
        rng=rng,
        cluster=cluster,
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to send: a status and a JSON body; `drop`: close the connection instead."""

    status: int
    body: bytes
    drop: bool = False


DROP = Reply(500, b"", drop=True)


def json_reply(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, orjson.dumps(body))


def too_large(state: TargetState) -> Reply:
    """A body past max_body_bytes: counted as arrived and refused."""
    state.counters.arrived(UNKNOWN_RUN)
    state.counters.answered(UNKNOWN_RUN, "413")
    return json_reply(413, {"error": f"body: larger than {state.config.max_body_bytes} bytes"})


def lost(state: TargetState) -> None:
    """A request whose body never fully arrived (the client went away)."""
    state.counters.arrived(UNKNOWN_RUN)
    state.counters.answered(UNKNOWN_RUN, DROPPED)


async def score(state: TargetState, body: bytes) -> Reply:
    """POST /v1/score: counted on arrival and by outcome, by the process that owns the card."""
    counters = state.counters
    try:
        payload: object = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = _NOT_JSON
    cluster = state.cluster
    if cluster is not None and payload is not _NOT_JSON:
        owner = cluster.owner(payload)
        if owner != cluster.index:
            counters.forwarded(run_id_of(payload))
            return await _forward(state, cluster, owner, body)
    run_id = run_id_of(payload)
    counters.arrived(run_id)
    outcome, decision = "500", None
    try:
        faults = state.faults
        if faults and happens(state.rng, faults.fraction("drop_connections", None)):
            outcome = DROPPED
            return DROP
        if payload is _NOT_JSON:
            outcome = "400"
            return json_reply(400, {"error": "body: not valid JSON"})
        status, answer = await _assess(state, payload)
        outcome = str(status)
        decision = answer.get("decision")
        return json_reply(status, answer)
    finally:
        counters.answered(run_id, outcome, decision)


async def _forward(state: TargetState, cluster: ClusterRole, owner: int, body: bytes) -> Reply:
    """Another process holds the card: its answer, counted there. A connection it dropped
    (a drop_connections fault) is dropped here too; an owner that cannot be reached is a 502
    counted here, so every request arrived is counted by exactly one process."""
    try:
        status, answer = await cluster.forward(owner, body)
    except aiohttp.ServerDisconnectedError:
        return DROP
    except aiohttp.ClientError as unreachable:
        run_id = run_id_of(orjson.loads(body))
        state.counters.arrived(run_id)
        state.counters.answered(run_id, "502")
        return json_reply(502, {"error": f"process {owner} of the service: {unreachable}"})
    return Reply(status, answer)


async def _assess(state: TargetState, payload: object) -> tuple[int, dict[str, Any]]:
    try:
        txn = parse_transaction(payload)
    except InvalidTransaction as invalid:
        return 400, {"error": str(invalid)}
    try:
        assessment = await state.orchestrator.assess(txn)
    except ScoringRefused as refused:
        return refused.status, {"error": refused.error}
    return 200, assessment.to_json()


async def stats(state: TargetState, path_qs: str, run_id: str | None) -> Reply:
    """GET /v1/stats: the service's count, whichever process is asked (the others ask
    process 0, which sums)."""
    cluster = state.cluster
    if cluster is not None and cluster.index != 0:
        try:
            status, answer = await cluster.ask_first(path_qs)
        except aiohttp.ClientError as unreachable:
            return json_reply(502, {"error": f"counts incomplete: process 0: {unreachable}"})
        return Reply(status, answer)
    return await summed_stats(state, run_id, state.scoring_members)


async def summed_stats(
    state: TargetState, run_id: str | None, members: MemberAdmins | None,
) -> Reply:
    own = state.counters.describe(run_id)
    if members is None:
        return json_reply(200, own)
    params = {} if run_id is None else {"run_id": run_id}
    try:
        others = await members.call_all("GET", "/admin/stats", params=params)
    except MemberUnreachable as unreachable:
        return json_reply(502, {"error": f"counts incomplete: {unreachable}"})
    return json_reply(200, merge_described([own, *others]))


def health(state: TargetState) -> Reply:
    """GET /health, from the scoring loop: each agent's state."""
    agents = state.orchestrator.health()
    healthy = all(agent["healthy"] for agent in agents.values())
    return json_reply(200, {"status": "ok" if healthy else "degraded", "agents": agents})


async def close(state: TargetState) -> None:
    """The client sessions to the other processes, closed in the scoring loop that made them."""
    for peers in (state.cluster, state.scoring_members):
        if peers is not None:
            await peers.close()
    await asyncio.sleep(0)  # let the sessions' connectors finish closing
