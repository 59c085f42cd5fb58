"""A run against a reference service of several processes sends each card straight to the
process that holds its history (no forwarding hop), and the counts still reconcile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from reference_service.cluster import default_processes, owner_of
from stresslab.local.reference_process import ReferenceService
from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.scenario.spec import HttpSettings, parse_scenario
from stresslab.targets.card_routed import CardRoutedTarget, split_connections
from stresslab.targets.factory import TargetContext, open_run_target
from stresslab.targets.secrets import Secrets, environment_resolver

pytestmark = pytest.mark.timeout(120)


def spec(**extra: object) -> Any:
    return parse_scenario({
        "name": "routed",
        "workers": 2,
        "phases": [{"shape": "constant", "tps": 150, "duration": 3}],
        "criteria": ["lost == 0"],
        **extra,
    }, "test")


def payload(card_id: str | None) -> dict[str, Any]:
    return {"card": {"card_id": card_id}} if card_id is not None else {"amount": 1}


@pytest.fixture
async def doors() -> AsyncIterator[list[tuple[str, list[Any]]]]:
    """Three real HTTP servers on loopback, each keeping the card ids it was sent."""
    runners, served = [], []
    for _ in range(3):
        seen: list[Any] = []

        async def score(request: web.Request, seen: list[Any] = seen) -> web.Response:
            body = await request.json()
            seen.append(body.get("card", {}).get("card_id"))
            return web.json_response({"decision": "approve"})

        app = web.Application()
        app.router.add_post("/v1/score", score)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        served.append((f"http://127.0.0.1:{runner.addresses[0][1]}/v1/score", seen))
    yield served
    for runner in runners:
        await runner.cleanup()


async def test_each_card_goes_to_the_door_of_its_owner(
        doors: list[tuple[str, list[Any]]]) -> None:
    # Given a run target opened with three owner URLs and no target section
    urls = tuple(url for url, _ in doors)
    context = TargetContext(HttpSettings(), Secrets(environment_resolver({})))
    cards = [f"card-{n}" for n in range(60)]
    # When every card is sent twice, and one payload without a card
    async with open_run_target(spec(), urls[0], context, owner_urls=urls) as target:
        assert isinstance(target, CardRoutedTarget)
        for card in cards * 2:
            assert (await target.send(payload(card))).kind == "ok"
        await target.send(payload(None))
    # Then each door saw exactly the cards it owns, every one of them twice
    for index, (_, seen) in enumerate(doors):
        owned = [c for c in cards if owner_of(c, 3) == index]
        assert sorted(c for c in seen if c is not None) == sorted(owned * 2)
    assert doors[0][1].count(None) == 1  # no card: the first process answers


async def test_one_url_or_a_target_section_is_not_routed(
        doors: list[tuple[str, list[Any]]]) -> None:
    context = TargetContext(HttpSettings(), Secrets(environment_resolver({})))
    async with open_run_target(spec(), doors[0][0], context, owner_urls=(doors[0][0],)) as one:
        assert not isinstance(one, CardRoutedTarget)
    sectioned = spec(target={"url": doors[1][0]})
    urls = tuple(url for url, _ in doors)
    async with open_run_target(sectioned, doors[1][0], context, owner_urls=urls) as own:
        assert not isinstance(own, CardRoutedTarget)


def test_the_connections_are_shared_out_and_none_is_left_without() -> None:
    assert split_connections(256, 3) == [86, 85, 85]
    assert split_connections(2, 3) == [1, 1, 1]
    assert sum(split_connections(257, 2)) == 257


@pytest.fixture
async def two_processes() -> AsyncIterator[ReferenceService]:
    service = await ReferenceService.start(processes=2)
    yield service
    await service.stop()


async def test_a_run_against_two_processes_sends_each_card_to_its_owner(
        tmp_path: Any, two_processes: ReferenceService) -> None:
    # Given the bundled reference service as two processes
    service = two_processes
    assert len(service.score_urls) == 2
    # When a run goes against it
    run = LocalRun(LocalRunOptions(spec=spec(), reference=service, db_path=tmp_path / "runs.db",
                                   out_dir=tmp_path / "out", progress=False))
    result = await run.execute()
    # Then no request needed a hop to another process
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {service.token}"}) as http:
        async with http.get(f"{service.admin_url}/admin/stats",
                            params={"run_id": result.run_id}) as answer:
            stats = await answer.json()
    counts = result.summary["counts"]
    assert stats["forwarded"] == 0
    # And the counts reconcile, summed across the processes
    assert counts["sent"] > 0
    assert stats["received"] == counts["target_received"]
    assert counts["target_received"] == counts["sent"] - counts.get("undelivered", 0)
    assert counts["reconciled"] is True


async def test_the_runs_reference_service_has_a_process_per_core_capped() -> None:
    service = await ReferenceService.start()
    try:
        assert len(service.score_urls) == default_processes()
    finally:
        await service.stop()
