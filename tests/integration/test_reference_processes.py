"""The reference service as several processes: every card meets one memory, counts are summed,
faults and degradation reach every process, and a process that dies is noticed."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from reference_service.cluster import owner_of
from reference_service.config import TOKEN_ENV
from stresslab.local.reference_process import ReferenceService

REPO = Path(__file__).resolve().parents[2]
TOKEN = "a-test-token-of-enough-length"
FAST = {"agent_defaults": {"service_time_ms": 0.2, "service_time_sigma": 0}, "seed": 7}


def transaction(run: str, seq: int, card: str, *, minute: int = 0, **overrides: Any) -> dict[
        str, Any]:
    body: dict[str, Any] = {
        "schema": "stresslab.transaction/v1",
        "transaction_id": f"{run}/0/{seq}",
        "timestamp": f"2026-11-27T11:{minute:02d}:{seq % 60:02d}.000Z",
        "amount": 42.5, "amount_minor": 4250, "currency": "EUR",
        "card": {"card_id": card, "country": "DE"},
        "merchant": {"merchant_id": "m-1", "mcc": "5411", "country": "DE"},
        "channel": "card_present",
        "device": {"device_id": "pos-1", "type": "pos"},
        "location": {"city": "Berlin", "country": "DE", "lat": 52.52, "lon": 13.405},
    }
    body.update(overrides)
    return body


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    admin: str
    own: list[str]

    def owned_cards(self, index: int, count: int) -> list[str]:
        cards = (f"card-{n}" for n in range(10_000))
        return [c for c in cards if owner_of(c, len(self.own)) == index][:count]


Serve = Callable[[int], Awaitable[Served]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    started: list[asyncio.subprocess.Process] = []
    config = tmp_path / "config.json"
    config.write_text(json.dumps(FAST))

    async def start(processes: int) -> Served:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reference_service", "--port", "0", "--processes",
            str(processes), "--config", str(config), cwd=REPO,
            stdout=asyncio.subprocess.PIPE, env={**os.environ, TOKEN_ENV: TOKEN})
        started.append(process)
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().split()
        own = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().split()[3:]
        return Served(process, first[4], first[7], own)

    yield start
    for process in started:
        if process.returncode is None:
            process.terminate()
        await process.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield session


async def score(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(f"{url}/v1/score", json=body) as answer:
        return answer.status, await answer.json()


async def admin(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with http.request(method, url, **kwargs) as answer:
        assert answer.status < 300, await answer.text()
        return await answer.json()


def velocity_of(answer: dict[str, Any]) -> tuple[str, float, list[str]]:
    seen = answer["agents"]["pattern_velocity"]
    return answer["decision"], seen["score"], seen["reasons"]


async def test_a_cards_transactions_meet_the_same_memory_as_with_one_process(
    serve: Serve, http: aiohttp.ClientSession,
) -> None:
    # Given 48 cards, each with a burst of 6 card-present purchases, four cards interleaved,
    # sent one by one through a door of a 3-process service picked at random (the shared port
    # or a process's own port), so most arrive at a process that does not hold the card
    cards = [f"card-{n}" for n in range(48)]
    traffic = [
        transaction("mem", seq, card)
        for group in range(0, len(cards), 4)
        for seq, card in enumerate([c for _ in range(6) for c in cards[group:group + 4]],
                                   start=group * 6)
    ]
    one, three = await asyncio.gather(serve(1), serve(3))
    doors = [three.url, *three.own]
    # When the same traffic is scored by one process and by three
    alone = [velocity_of((await score(http, one.url, body))[1]) for body in traffic]
    door = random.Random(1).choice
    spread = [velocity_of((await score(http, door(doors), body))[1]) for body in traffic]
    # Then every decision and velocity finding is the same, and the bursts were found
    assert spread == alone
    assert sum(1 for _, velocity, _ in alone if velocity > 0) >= len(cards) * 3
    assert {owner_of(card, 3) for card in cards} == {0, 1, 2}


async def test_the_count_is_every_request_sent_across_processes(
    serve: Serve, http: aiohttp.ClientSession,
) -> None:
    # Given a 2-process service
    served = await serve(2)
    doors = [served.url, *served.own]
    # When 300 requests of a run arrive at once through its three doors
    answers = await asyncio.gather(*(
        score(http, doors[n % 3], transaction("count", n, f"card-{n % 37}"))
        for n in range(300)))
    # Then each was answered once, and the admin API's count is all of them
    assert [status for status, _ in answers] == [200] * 300
    stats = await admin(http, "GET", f"{served.admin}/admin/stats", params={"run_id": "count"})
    assert stats["received"] == 300
    assert stats["responses"] == {"200": 300}
    assert sum(stats["decisions"].values()) == 300


async def test_a_fault_reaches_every_process_and_its_removal_too(
    serve: Serve, http: aiohttp.ClientSession,
) -> None:
    # Given a 3-process service and a card owned by each process
    served = await serve(3)
    owned = [served.owned_cards(index, 1)[0] for index in range(3)]
    # When every request is throttled through the admin API
    fault = await admin(http, "POST", f"{served.admin}/admin/faults",
                        json={"type": "throttle", "intensity": 1.0, "duration_s": 60})
    # Then each process, asked on its own port about its own card, refuses
    refused = [await score(http, url, transaction("fault", n, owned[n]))
               for n, url in enumerate(served.own)]
    assert [status for status, _ in refused] == [429, 429, 429]
    # And once the fault is deleted by its id, each serves again
    await admin(http, "DELETE", f"{served.admin}/admin/faults/{fault['fault_id']}")
    back = [await score(http, url, transaction("fault", 10 + n, owned[n]))
            for n, url in enumerate(served.own)]
    assert [status for status, _ in back] == [200, 200, 200]


async def test_degradation_reaches_every_process(
    serve: Serve, http: aiohttp.ClientSession,
) -> None:
    # Given a 3-process service
    served = await serve(3)
    owned = [served.owned_cards(index, 1)[0] for index in range(3)]
    # When the admin API degrades it to CRITICAL
    await admin(http, "POST", f"{served.admin}/admin/degradation", json={"level": "CRITICAL"})
    # Then every process answers at that level
    answers = [await score(http, url, transaction("level", n, owned[n]))
               for n, url in enumerate(served.own)]
    assert [answer["degradation"] for _, answer in answers] == ["CRITICAL"] * 3


async def test_a_process_that_dies_stops_the_service_loudly(
    serve: Serve, http: aiohttp.ClientSession,
) -> None:
    # Given a 2-process service
    served = await serve(2)
    member = psutil.Process(served.process.pid).children()[0]
    # When the second process is killed
    os.kill(member.pid, signal.SIGKILL)
    # Then the service ends with status 1 rather than serving on with half its counts
    assert await asyncio.wait_for(served.process.wait(), 30) == 1


async def test_the_supervised_service_restarts_whole_on_the_same_ports() -> None:
    # Given the reference service as the runner starts it, with 2 processes
    service = await ReferenceService.start(processes=2)
    try:
        urls = service.score_urls
        assert len(urls) == 2
        # When one of its processes is killed
        os.kill(psutil.Process(service.pid).children()[0].pid, signal.SIGKILL)
        for _ in range(300):
            if service.exited:
                break
            await asyncio.sleep(0.1)
        # Then it is seen to have exited, with the reason, and restarts on the same ports
        assert service.exited and service.returncode == 1
        assert "process 1 of the service exited" in service.last_words
        await service.restart()
        assert service.score_urls == urls
        async with aiohttp.ClientSession() as http:
            for url in urls:
                status, _ = await score(http, url.removesuffix("/v1/score"),
                                        transaction("again", 1, "card-1"))
                assert status == 200
        assert await service.received("again") == 2
    finally:
        await service.stop()


@pytest.mark.parametrize(("flags", "error"), [
    (["--processes", "0"], "--processes: must be within 1..16"),
    (["--processes", "2", "--process-ports", "1,x"],
     "--process-ports: '1,x' is not comma-separated port numbers"),
    (["--processes", "2", "--process-ports", "8001"],
     "--process-ports: 2 ports within 0..65535, one per process"),
])
def test_bad_process_flags_are_refused_in_one_line(flags: list[str], error: str) -> None:
    done = subprocess.run([sys.executable, "-m", "reference_service", "--port", "0", *flags],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"python -m reference_service: error: {error}\n"


async def test_when_the_first_process_is_killed_the_others_leave_and_the_ports_come_back() -> None:
    # Given the reference service with 2 processes
    service = await ReferenceService.start(processes=2)
    try:
        urls = service.score_urls
        member = psutil.Process(service.pid).children()[0]
        # When process 0 is SIGKILLed (it cannot stop the others)
        os.kill(service.pid, signal.SIGKILL)
        for _ in range(300):
            if service.exited:
                break
            await asyncio.sleep(0.1)
        # Then the other process leaves by itself, and a restart serves on the same ports
        assert service.exited and service.returncode == -signal.SIGKILL
        await asyncio.to_thread(member.wait, 30)
        await service.restart()
        assert service.score_urls == urls
        async with aiohttp.ClientSession() as http:
            statuses = [(await score(http, url.removesuffix("/v1/score"),
                                     transaction("back", n, f"card-{n}")))[0]
                        for n, url in enumerate(urls)]
        assert statuses == [200, 200]
    finally:
        await service.stop()


async def test_v1_stats_on_any_door_counts_every_process(
    serve: Serve, http: aiohttp.ClientSession,
) -> None:
    # Given a 3-process service that scored 60 requests of a run through all its doors
    served = await serve(3)
    doors = [served.url, *served.own]
    for n in range(60):
        await score(http, doors[n % 4], transaction("doors", n, f"card-{n % 13}"))
    # When /v1/stats is asked on each door
    counts = []
    for door in doors:
        async with http.get(f"{door}/v1/stats", params={"run_id": "doors"}) as answer:
            counts.append((await answer.json())["received"])
    # Then each answers for the whole service
    assert counts == [60, 60, 60, 60]
