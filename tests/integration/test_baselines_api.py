"""The baseline endpoints on a real server with real runs: which finished runs are offered, and
a finished run's series as stored in SQLite and as its viewers saw it live."""

from __future__ import annotations

import json

import aiohttp
import pytest

from stresslab.local.server import RunningServer
from tests.viewer import Viewer

pytestmark = pytest.mark.timeout(120)

TOKEN = "baseline-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def get(http: aiohttp.ClientSession, url: str,
              headers: dict[str, str] | None = None) -> tuple[int, dict]:
    async with http.get(url, headers=headers or {}) as response:
        return response.status, json.loads(await response.text())


async def start(http: aiohttp.ClientSession, server: RunningServer, seconds: int) -> str:
    async with http.post(f"{server.url}/api/runs", headers=AUTH, data=json.dumps(
            {"scenario": "smoke", "tps": 20, "duration": f"{seconds}s"})) as response:
        assert response.status == 202, await response.text()
        return str((await response.json())["run_id"])


def stopped(run_id: str):
    return lambda m: m["type"] == "event" and m["event"] == "run_stopped" \
        and m["run_id"] == run_id


async def test_finished_runs_are_offered_and_their_series_is_what_was_stored_and_seen(
        server, http):
    watcher = Viewer(await http.ws_connect(f"{server.url}/ws"))
    # Given two finished smoke runs, watched live
    first = await start(http, server, 3)
    await watcher.wait_for(stopped(first), timeout=40)
    second = await start(http, server, 2)
    await watcher.wait_for(stopped(second), timeout=40)
    # And a third one running now
    live = await start(http, server, 30)
    await watcher.wait_for(lambda m: m["type"] == "tick" and m["run_id"] == live)

    # When a page asks for baselines of the live scenario, without a token
    status, listing = await get(http, f"{server.url}/api/baselines?scenario=smoke")
    # Then the finished runs are offered, newest first, and the live one is not
    assert status == 200 and listing["scenario"] == "smoke"
    assert [b["run_id"] for b in listing["baselines"]] == [second, first]
    assert all(b["same_scenario"] and b["status"] == "completed" for b in listing["baselines"])

    # When it asks for the first run's series
    status, series = await get(http, f"{server.url}/api/runs/{first}/series")
    # Then it is the store's seconds, value for value
    assert status == 200 and series["run_id"] == first and series["scenario"] == "smoke"
    stored = server.controller.store.series(first)
    assert [s["second"] for s in series["seconds"]] == [r["second"] for r in stored]
    for point, row in zip(series["seconds"], stored, strict=True):
        assert [point[k] for k in ("ok", "sent", "p50_ms", "p95_ms", "p99_ms", "accuracy")] == [
            row[k] for k in ("ok", "sent", "p50_ms", "p95_ms", "p99_ms", "accuracy")]
    assert sum(p["ok"] for p in series["seconds"]) == 60
    # And what the run's viewers were shown live, second by second
    shown = {t["second"]: t["window"] for t in watcher.ticks() if t["run_id"] == first}
    for point in series["seconds"]:
        if point["second"] in shown:
            window = shown[point["second"]]
            assert (point["ok"], point["p95_ms"]) == (window["ok"], window["p95_ms"])
    # And its phases are on the run's clock
    assert series["duration_s"] == 3 and series["phases"][0]["start_s"] == 0
    assert {p["phase"] for p in series["seconds"] if p["second"] < 3} == {
        series["phases"][0]["name"]}

    # When the live run's series is asked for, it is refused in one line: it has not finished
    status, refused = await get(http, f"{server.url}/api/runs/{live}/series")
    assert status == 409 and refused["error"].startswith(f"run_id: run {live} has not finished")
    await (await http.post(f"{server.url}/api/runs/current/stop", headers=AUTH)).release()
    await watcher.wait_for(stopped(live), timeout=40)
    await watcher.close()


async def test_an_unknown_run_is_404_in_one_line_and_other_hosts_are_refused(server, http):
    status, answer = await get(http, f"{server.url}/api/runs/no-such-run/series")
    assert status == 404 and answer == {"error": "run_id: no run 'no-such-run'"}
    status, listing = await get(http, f"{server.url}/api/baselines")
    assert status == 200 and listing == {"scenario": None, "baselines": []}
    for path in ("/api/baselines", "/api/runs/x/series"):
        status, refused = await get(http, server.url + path, {"Host": "evil.example"})
        assert status == 403 and refused["error"].startswith("host: 'evil.example'")
        status, refused = await get(http, server.url + path, {"Origin": "http://evil.example"})
        assert status == 403 and refused["error"].startswith("origin: pages of")
