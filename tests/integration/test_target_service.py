"""Integration tests of the reference target over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reference_service.config import AgentConfig
from reference_service.service import RunningTarget, TargetConfig, start_target

REPO = Path(__file__).resolve().parents[2]
FAST = AgentConfig(service_time_ms=0.2, service_time_sigma=0)
BERLIN = {"city": "Berlin", "country": "DE", "lat": 52.52, "lon": 13.405}

StartTarget = Callable[..., Awaitable[RunningTarget]]


def transaction(transaction_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema": "stresslab.transaction/v1",
        "transaction_id": transaction_id,
        "timestamp": "2026-11-27T11:10:00.123Z",
        "amount": 42.5,
        "amount_minor": 4250,
        "currency": "EUR",
        "card": {
            "card_id": f"card-{transaction_id.rsplit('/', 1)[-1]}",
            "bin": "424242",
            "last4": "4242",
            "masked_pan": "4242 42** **** 4242",
            "network": "visa",
            "country": "DE",
        },
        "account_id": "acct-1",
        "merchant": {
            "merchant_id": "m-1",
            "name": "Corner Grocer",
            "mcc": "5411",
            "category": "grocery",
            "country": "DE",
            "city": "Berlin",
        },
        "channel": "card_present",
        "device": {"device_id": "pos-1", "type": "pos", "ip": "192.0.2.1"},
        "location": dict(BERLIN),
    }
    body.update(overrides)
    return body


@pytest.fixture
async def launch() -> AsyncIterator[StartTarget]:
    """Start targets on free ports; every one is stopped at the end of the test."""
    running: list[RunningTarget] = []

    async def start(**config: Any) -> RunningTarget:
        config.setdefault("agent_defaults", FAST)
        target = await start_target(config=TargetConfig(seed=3, **config))
        running.append(target)
        return target

    yield start
    for target in running:
        await target.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def auth(target: RunningTarget) -> dict[str, str]:
    """The headers every admin call needs: the target's token (JSON is set by `post`)."""
    return {"Authorization": f"Bearer {target.admin_token}"}


async def post(http: aiohttp.ClientSession, url: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
    async with http.post(url, data=data, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def delete(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.delete(url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


# -- scoring and counting -----------------------------------------------------------------


async def test_score_answers_the_documented_shape(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()

    status, answer = await post(http, f"{target.url}/v1/score", transaction("run-1/0/1"))

    assert status == 200
    assert answer["transaction_id"] == "run-1/0/1"
    assert answer["decision"] == "approve"
    assert 0.0 <= answer["risk_score"] <= 1.0
    assert answer["degradation"] == "NONE"
    assert isinstance(answer["processing_ms"], float)
    assert set(answer["agents"]) == {
        "transaction_analysis",
        "pattern_velocity",
        "geographic_risk",
        "compliance",
    }
    for report in answer["agents"].values():
        assert set(report) == {"score", "reasons", "ms"}


async def test_stats_count_every_request_per_run_including_malformed_bodies(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    score = f"{target.url}/v1/score"

    for seq in range(3):
        await post(http, score, transaction(f"alpha/0/{seq}"))
    await post(http, score, transaction("beta/1/0"))
    missing_card = transaction("alpha/0/9")
    del missing_card["card"]
    assert await post(http, score, missing_card) == (400, {"error": "card: must be an object"})
    assert (await post(http, score, b"{not json"))[0] == 400
    assert (await post(http, score, {"hello": "world"}))[0] == 400

    _, alpha = await get(http, f"{target.url}/v1/stats", params={"run_id": "alpha"})
    _, unknown = await get(http, f"{target.url}/v1/stats", params={"run_id": "unknown"})
    _, never = await get(http, f"{target.url}/v1/stats", params={"run_id": "never"})
    _, total = await get(http, f"{target.url}/v1/stats")

    assert alpha == {
        "run_id": "alpha",
        "received": 4,
        "responses": {"200": 3, "400": 1},
        "decisions": {"approve": 3, "review": 0, "block": 0},
        "forwarded": 0,
    }
    assert unknown["received"] == 2 and unknown["responses"] == {"400": 2}
    assert never["received"] == 0
    assert total["run_id"] is None
    assert total["received"] == 7
    assert total["responses"] == {"200": 4, "400": 3}


async def test_oversized_body_is_refused_and_counted(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch(max_body_bytes=1024)

    status, answer = await post(http, f"{target.url}/v1/score", b"x" * 5000)

    assert status == 413
    assert answer["error"].startswith("body: ")
    _, total = await get(http, f"{target.url}/v1/stats")
    assert total["responses"] == {"413": 1}


async def test_requests_past_capacity_get_429(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    # Given one slot and one waiting place per agent, each call taking half a second
    slow = AgentConfig(concurrency=1, max_queue=1, service_time_ms=500, service_time_sigma=0)
    target = await launch(agent_defaults=slow)
    score = f"{target.url}/v1/score"

    # When six requests arrive together
    answers = await asyncio.gather(
        *(post(http, score, transaction(f"burst/0/{n}")) for n in range(6))
    )

    # Then the ones beyond slot + queue are throttled, and the count says so
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(200) >= 2
    assert statuses.count(429) >= 1
    assert set(statuses) == {200, 429}
    assert {"error": "throttled"} in [answer for _, answer in answers]
    _, stats = await get(http, f"{target.url}/v1/stats", params={"run_id": "burst"})
    assert stats["received"] == 6
    assert stats["responses"] == {"200": statuses.count(200), "429": statuses.count(429)}


async def test_health_reports_every_agent(launch: StartTarget, http: aiohttp.ClientSession) -> None:
    target = await launch()

    status, health = await get(http, f"{target.url}/health")

    assert status == 200
    assert health["status"] == "ok"
    assert health["agents"]["compliance"] == {"healthy": True, "in_flight": 0, "queued": 0}
    assert len(health["agents"]) == 4


# -- faults -------------------------------------------------------------------------------


async def inject(http: aiohttp.ClientSession, target: RunningTarget, **fault: Any) -> str:
    fault.setdefault("duration_s", 60)
    status, answer = await post(http, f"{target.admin_url}/admin/faults", fault,
                                headers=auth(target))
    assert status == 201, answer
    return str(answer["fault_id"])


async def test_agent_errors_fault_answers_500(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    await inject(http, target, type="agent_errors", agent="geographic_risk", intensity=1.0)

    status, answer = await post(http, f"{target.url}/v1/score", transaction("f/0/1"))

    assert (status, answer) == (500, {"error": "agent geographic_risk failed"})


async def test_agent_down_fault_answers_503_and_shows_in_health(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    await inject(http, target, type="agent_down", agent="pattern_velocity")

    status, answer = await post(http, f"{target.url}/v1/score", transaction("f/0/1"))
    _, health = await get(http, f"{target.url}/health")

    assert (status, answer) == (503, {"error": "agent pattern_velocity unavailable"})
    assert health["status"] == "degraded"
    assert health["agents"]["pattern_velocity"]["healthy"] is False
    assert health["agents"]["compliance"]["healthy"] is True


async def test_throttle_fault_answers_429(launch: StartTarget, http: aiohttp.ClientSession) -> None:
    target = await launch()
    await inject(http, target, type="throttle", intensity=1.0)

    status, answer = await post(http, f"{target.url}/v1/score", transaction("f/0/1"))

    assert (status, answer) == (429, {"error": "throttled"})


async def test_latency_fault_slows_the_named_agent(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    await inject(http, target, type="latency", agent="compliance", intensity=150)

    _, answer = await post(http, f"{target.url}/v1/score", transaction("f/0/1"))

    assert answer["agents"]["compliance"]["ms"] >= 150
    assert answer["agents"]["transaction_analysis"]["ms"] < 150
    assert answer["processing_ms"] >= 150


async def test_slow_store_fault_slows_every_request(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    await inject(http, target, type="slow_store", intensity=120)

    _, answer = await post(http, f"{target.url}/v1/score", transaction("f/0/1"))

    assert answer["processing_ms"] >= 120


async def test_drop_connections_fault_closes_without_answer_and_is_counted(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    await inject(http, target, type="drop_connections", intensity=1.0)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, f"{target.url}/v1/score", transaction("drop/0/1"))

    _, stats = await get(http, f"{target.url}/v1/stats", params={"run_id": "drop"})
    assert stats["received"] == 1
    assert stats["responses"] == {"dropped": 1}


async def test_faults_are_listed_deleted_and_cleared(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    faults = f"{target.admin_url}/admin/faults"
    first = await inject(http, target, type="latency", intensity=5, duration_s=60)
    await inject(http, target, type="throttle", agent="compliance", intensity=0.2)

    _, listed = await get(http, faults, headers=auth(target))
    assert [f["fault_id"] for f in listed["faults"]][0] == first
    assert listed["faults"][0]["remaining_s"] <= 60
    assert listed["faults"][1]["agent"] == "compliance"

    assert await delete(http, f"{faults}/{first}", headers=auth(target)) == (
        200, {"deleted": first})
    assert (await delete(http, f"{faults}/{first}", headers=auth(target)))[0] == 404
    assert await delete(http, faults, headers=auth(target)) == (200, {"cleared": 1})
    assert await get(http, faults, headers=auth(target)) == (200, {"faults": []})
    status, _ = await post(http, f"{target.url}/v1/score", transaction("f/0/1"))
    assert status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{oops", "body"),
        ({"type": "meteor", "intensity": 1}, "type"),
        ({"type": "agent_errors", "intensity": 7}, "intensity"),
        ({"type": "latency", "agent": "oracle", "intensity": 5}, "agent"),
        ({"type": "latency", "intensity": 5, "duration_s": 9, "extra": True}, "extra"),
    ],
)
async def test_bad_fault_input_is_400_naming_the_field_and_changes_nothing(
    launch: StartTarget, http: aiohttp.ClientSession, body: Any, field: str
) -> None:
    target = await launch()

    status, answer = await post(http, f"{target.admin_url}/admin/faults", body,
                                headers=auth(target))

    assert status == 400
    assert answer["error"].startswith(f"{field}: ")
    assert "\n" not in answer["error"]
    assert await get(http, f"{target.admin_url}/admin/faults", headers=auth(target)) == (
        200, {"faults": []})


async def test_admin_requires_the_bearer_token_when_configured(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch(admin_token="s3cret-s3cret-s3cret")
    faults = f"{target.admin_url}/admin/faults"
    fault = {"type": "throttle", "intensity": 1.0, "duration_s": 60}

    no_token = await post(http, faults, fault)
    wrong = await post(http, faults, fault, headers={"Authorization": "Bearer nope"})
    right = await post(http, faults, fault,
                       headers={"Authorization": "Bearer s3cret-s3cret-s3cret"})
    degrade = await post(http, f"{target.admin_url}/admin/degradation", {"level": "SEVERE"})

    assert no_token[0] == wrong[0] == degrade[0] == 401
    assert right[0] == 201
    status, _ = await post(http, f"{target.url}/v1/score", transaction("auth/0/1"))
    assert status == 429  # the fault added with the token is in force; scoring needs no token


# -- degradation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "agents"),
    [
        ("MODERATE", {"transaction_analysis", "pattern_velocity", "geographic_risk"}),
        ("SEVERE", {"transaction_analysis", "pattern_velocity"}),
        ("CRITICAL", set()),
        ("NONE", {"transaction_analysis", "pattern_velocity", "geographic_risk", "compliance"}),
    ],
)
async def test_degradation_levels_shed_agents(
    launch: StartTarget, http: aiohttp.ClientSession, level: str, agents: set[str]
) -> None:
    target = await launch()

    admin = f"{target.admin_url}/admin/degradation"
    status, changed = await post(http, admin, {"level": level}, headers=auth(target))
    _, answer = await post(http, f"{target.url}/v1/score", transaction("deg/0/1"))

    assert status == 200
    assert changed == {"level": level, "previous": "NONE"}
    assert answer["degradation"] == level
    assert set(answer["agents"]) == agents
    assert await get(http, admin, headers=auth(target)) == (200, {"level": level})


async def test_bad_degradation_level_is_400_and_keeps_the_level(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch()
    admin = f"{target.admin_url}/admin/degradation"
    await post(http, admin, {"level": "SEVERE"}, headers=auth(target))

    status, answer = await post(http, admin, {"level": "PANIC"}, headers=auth(target))

    assert status == 400
    assert answer["error"].startswith("level: ")
    assert await get(http, admin, headers=auth(target)) == (200, {"level": "SEVERE"})


async def test_critical_mode_blocks_sanctioned_country_without_agents(
    launch: StartTarget, http: aiohttp.ClientSession
) -> None:
    target = await launch(degradation="CRITICAL")
    havana = {"city": "Havana", "country": "CU", "lat": 23.11, "lon": -82.37}

    _, answer = await post(http, f"{target.url}/v1/score", transaction("c/0/1", location=havana))

    assert answer["decision"] == "block"
    assert answer["agents"] == {}
    assert answer["reasons"] == ["emergency rule: sanctioned country CU"]


# -- command line -------------------------------------------------------------------------


def test_module_entry_point_rejects_bad_flags_with_one_line() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "reference_service", "--port", "eighty"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert finished.stderr.count("\n") == 1
    assert "--port" in finished.stderr


def test_module_entry_point_rejects_a_bad_config_file(tmp_path: Path) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"agent_defaults": {"concurrency": 0}}))

    finished = subprocess.run(
        [sys.executable, "-m", "reference_service", "--port", "0", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert finished.stderr.count("\n") == 1
    assert "agent_defaults.concurrency" in finished.stderr


async def test_module_entry_point_prints_its_url_and_serves(
    http: aiohttp.ClientSession,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reference_service",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        assert line.startswith("stresslab target listening on http://127.0.0.1:")
        url, admin = re.findall(r"http://127\.0\.0\.1:\d+", line)
        token_line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        token = token_line.removeprefix("stresslab target admin token: ").strip()

        status, health = await get(http, f"{url}/health")
        admin_status, faults = await get(http, f"{admin}/admin/faults",
                                         headers={"Authorization": f"Bearer {token}"})

        assert status == 200 and health["status"] == "ok"
        assert len(token) >= 32 and (admin_status, faults) == (200, {"faults": []})
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
