"""The reference service's admin API is hardened: token, JSON, Host, caps, finite faults,
its own thread, and no network-facing bind without --allow-remote. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from reference_service.config import AgentConfig, TargetConfig
from reference_service.service import RemoteBindRefused, RunningTarget, start_target

REPO = Path(__file__).resolve().parents[2]
FAULT = {"type": "throttle", "intensity": 0.5, "duration_s": 30}
ROUTES = [
    ("POST", "/admin/faults", FAULT),
    ("GET", "/admin/faults", None),
    ("DELETE", "/admin/faults", None),
    ("DELETE", "/admin/faults/fault-1", None),
    ("POST", "/admin/degradation", {"level": "SEVERE"}),
    ("GET", "/admin/degradation", None),
    ("GET", "/admin/stats", None),
    ("GET", "/admin/health", None),
]


@pytest.fixture
async def target() -> AsyncIterator[RunningTarget]:
    running = await start_target(config=TargetConfig(
        seed=1, agent_defaults=AgentConfig(service_time_ms=0.2, service_time_sigma=0)))
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def bearer(target: RunningTarget) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.admin_token}"}


async def call(
    http: aiohttp.ClientSession, target: RunningTarget, method: str, path: str,
    body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"Content-Type": "application/json", **bearer(target), **(headers or {})}
    async with http.request(method, target.admin_url + path, data=data,
                            headers=sent) as response:
        return response.status, await response.json(content_type=None)


async def faults_in_force(http: aiohttp.ClientSession, target: RunningTarget) -> list[Any]:
    status, answer = await call(http, target, "GET", "/admin/faults")
    assert status == 200
    return list(answer["faults"])


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_admin_route_requires_the_token(
    target: RunningTarget, http: aiohttp.ClientSession, method: str, path: str, body: Any
) -> None:
    # When a route is called without the token, or with a wrong one
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-the-token"},
                    {"Authorization": f"Basic {target.admin_token}"}):
        status, answer = await call(http, target, method, path, body, headers=headers)
        # Then it is refused, and nothing changed
        assert status == 401, (method, path, headers)
        assert answer == {"error": "authorization: admin bearer token required"}
    assert await faults_in_force(http, target) == []
    assert (await call(http, target, "GET", "/admin/degradation"))[1] == {"level": "NONE"}


async def test_the_token_is_random_and_the_routes_answer_with_it(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    other = await start_target()
    try:
        assert len(target.admin_token) >= 32 and target.admin_token != other.admin_token
    finally:
        await other.stop()
    for method, path, body in ROUTES:
        status, _ = await call(http, target, method, path, body)
        assert status in (200, 201, 404), (method, path)  # 404: fault-1 was gone already


async def test_the_scoring_port_serves_no_admin_route(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{target.url}/admin/faults", json=FAULT,
                         headers=bearer(target)) as response:
        assert response.status == 404
    assert await faults_in_force(http, target) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
async def test_a_post_that_is_not_json_is_refused(
    target: RunningTarget, http: aiohttp.ClientSession, content_type: str
) -> None:
    # Given the body a page's no-cors fetch could send (only "simple" content types pass)
    status, answer = await call(http, target, "POST", "/admin/faults",
                                raw=json.dumps(FAULT).encode(),
                                headers={"Content-Type": content_type})
    assert (status, answer) == (415, {"error": "content-type: must be application/json"})
    assert await faults_in_force(http, target) == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}",
                                  "127.0.0.1:1", "localhost.evil.example:{port}"])
async def test_a_foreign_host_header_is_refused_even_with_the_token(
    target: RunningTarget, http: aiohttp.ClientSession, host: str
) -> None:
    # Given a DNS-rebinding page: the right address and token, but its own name in Host
    port = target.admin_url.rsplit(":", 1)[1]
    status, answer = await call(http, target, "POST", "/admin/faults", FAULT,
                                headers={"Host": host.format(port=port)})
    assert status == 421 and answer["error"].startswith("host: ")
    assert await faults_in_force(http, target) == []


async def test_loopback_names_are_accepted_as_host(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    port = target.admin_url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert (await call(http, target, "GET", "/admin/faults", headers={"Host": host}))[0] == 200


async def test_faults_are_capped_in_number(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    for _ in range(16):
        assert (await call(http, target, "POST", "/admin/faults", FAULT))[0] == 201
    status, answer = await call(http, target, "POST", "/admin/faults", FAULT)
    assert status == 409 and answer["error"].startswith("faults: at most 16")
    assert len(await faults_in_force(http, target)) == 16


async def test_latency_faults_are_capped_in_total_added_delay(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    latency = {"type": "latency", "intensity": 20_000, "duration_s": 30}
    slow_store = {"type": "slow_store", "intensity": 10_000, "duration_s": 30}
    assert (await call(http, target, "POST", "/admin/faults", latency))[0] == 201
    assert (await call(http, target, "POST", "/admin/faults", slow_store))[0] == 201
    status, answer = await call(http, target, "POST", "/admin/faults",
                                {**latency, "intensity": 1})
    assert status == 409 and answer["error"].startswith("intensity: latency faults may add")
    assert len(await faults_in_force(http, target)) == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "throttle", "intensity": 0.5}, "duration_s"),
    ({"type": "throttle", "intensity": 0.5, "duration_s": None}, "duration_s"),
    ({"type": "throttle", "intensity": 0.5, "duration_s": 0}, "duration_s"),
    ({"type": "throttle", "intensity": 0.5, "duration_s": 86_401}, "duration_s"),
])
async def test_a_fault_without_a_finite_end_is_refused(
    target: RunningTarget, http: aiohttp.ClientSession, body: dict[str, Any], field: str
) -> None:
    status, answer = await call(http, target, "POST", "/admin/faults", body)
    assert status == 400 and answer["error"].startswith(f"{field}: ")
    assert await faults_in_force(http, target) == []


async def test_a_fault_longer_than_the_service_allows_is_refused(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(http, target, "POST", "/admin/faults",
                                {**FAULT, "duration_s": 7_200})
    assert status == 409 and answer["error"].startswith("duration_s: at most 3600")
    assert await faults_in_force(http, target) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", '"inf"', '"nan"', "1e999"])
@pytest.mark.parametrize("field", ["intensity", "duration_s"])
async def test_inf_and_nan_are_refused(
    target: RunningTarget, http: aiohttp.ClientSession, literal: str, field: str
) -> None:
    body = {"type": "latency", "intensity": "@I", "duration_s": "@D"}
    raw = json.dumps(body).replace('"@I"', literal if field == "intensity" else "5")
    raw = raw.replace('"@D"', literal if field == "duration_s" else "30")
    status, answer = await call(http, target, "POST", "/admin/faults", raw=raw.encode())
    assert status == 400 and answer["error"].startswith(f"{field}: "), answer
    assert await faults_in_force(http, target) == []


def test_the_service_configuration_refuses_inf_and_nan() -> None:
    window = {"seconds": "inf", "traffic_share": 1, "min_ticks": 1, "limit": 2}
    for bad in ({"rules": {"burst": window}}, {"agent_defaults": {"service_time_ms": "NaN"}},
                {"rules": {"high_value_usd": "Infinity"}}, {"max_added_ms": "inf"}):
        with pytest.raises(ValidationError):
            TargetConfig.model_validate(bad)


async def test_a_repeated_idempotency_key_makes_one_fault(
    target: RunningTarget, http: aiohttp.ClientSession
) -> None:
    key = {"Idempotency-Key": "run-1/0"}
    first = await call(http, target, "POST", "/admin/faults", FAULT, headers=key)
    again = await call(http, target, "POST", "/admin/faults", FAULT, headers=key)
    assert (first[0], again[0]) == (201, 200)
    assert first[1]["fault_id"] == again[1]["fault_id"]
    assert len(await faults_in_force(http, target)) == 1


async def test_the_admin_api_answers_while_the_scoring_loop_is_stuck(
    target: RunningTarget,
) -> None:
    # Given the scoring event loop blocked (as a saturated one is, for long stretches)
    answers: dict[str, Any] = {}

    def ask(name: str, url: str, headers: dict[str, str]) -> None:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                answers[name] = json.loads(response.read())
        except (urllib.error.URLError, OSError) as error:
            answers[name] = error

    admin = threading.Thread(target=ask, args=(
        "admin", f"{target.admin_url}/admin/health", bearer(target)))
    scoring = threading.Thread(target=ask, args=("scoring", f"{target.url}/health", {}))
    # When both are asked while the loop is stuck
    admin.start()
    scoring.start()
    admin.join(timeout=10)  # the scoring loop is this thread's: it cannot run meanwhile
    answered_while_stuck = dict(answers)
    # Then the admin API has answered, and the scoring port has not (it needs the loop)
    assert "admin" in answered_while_stuck and "scoring" not in answered_while_stuck
    assert answered_while_stuck["admin"]["agents"]["compliance"]["healthy"] is True
    await asyncio.to_thread(scoring.join, 20)
    assert answers["scoring"]["status"] == "ok"


async def test_a_non_loopback_host_is_refused_without_allow_remote() -> None:
    with pytest.raises(RemoteBindRefused, match="--allow-remote"):
        await start_target("0.0.0.0", 0)


@pytest.mark.parametrize("command", [["-m", "reference_service"], ["-m", "stresslab", "target"]])
def test_the_command_refuses_host_0000_in_one_line(command: list[str]) -> None:
    done = subprocess.run([sys.executable, *command, "--host", "0.0.0.0", "--port", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--host 0.0.0.0: not a loopback address" in lines[0]
    assert "--allow-remote" in lines[0] and "Traceback" not in done.stderr


def test_allow_remote_serves_and_warns_loudly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "stresslab", "target", "--host", "0.0.0.0", "--port", "0",
         "--allow-remote"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        listening = process.stdout.readline()
        warning = process.stderr.readline()
        assert "listening on http://0.0.0.0:" in listening
        assert warning.startswith("WARNING: the reference service listens on 0.0.0.0")
    finally:
        process.terminate()
        process.wait(timeout=30)
