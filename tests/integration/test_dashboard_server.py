"""The dashboard server on a real socket: config, WebSocket feed, control API, runs, exports."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stresslab.local.server import RunningServer
from tests.viewer import Message, Viewer

pytestmark = pytest.mark.timeout(90)

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


async def viewer(http: aiohttp.ClientSession, server: RunningServer) -> Viewer:
    return Viewer(await http.ws_connect(f"{server.url}/ws"))


def event(name: str) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "event" and m["event"] == name


async def post(http: aiohttp.ClientSession, url: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    async with http.post(url, data=data, headers=headers or {}) as response:
        return response.status, await response.json()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def test_config_json_points_the_site_at_this_server(server, http):
    status, config = await get(http, f"{server.url}/config.json")
    assert status == 200
    host = server.url.removeprefix("http://")
    assert config["mode"] == "local" and config["version"] == "stresslab.live/v1"
    assert config["ws_url"] == f"ws://{host}/ws"
    assert config["api_url"] == f"http://{host}/api"
    assert config["fx_usd_per_unit"]["USD"] == 1.0 and config["fx_usd_per_unit"]["EUR"] > 0


async def test_a_viewer_gets_a_snapshot_at_once_and_answers_to_ping(server, http):
    watcher = await viewer(http, server)
    snapshot = await watcher.wait_for(lambda m: True)
    assert snapshot["type"] == "snapshot" and snapshot["schema"] == "stresslab.live/v1"
    assert snapshot["run"] is None and snapshot["history"] == [] and snapshot["runs"] == []
    await watcher.socket.send_str('{"type": "ping"}')
    await watcher.wait_for(lambda m: m["type"] == "pong")
    await watcher.socket.send_str('{"type": "subscribe"}')
    error = await watcher.wait_for(lambda m: m["type"] == "error")
    assert error["message"].startswith("type: Input should be 'ping' or 'resync'")
    await watcher.close()


async def test_actions_without_the_token_get_401_and_change_nothing(server, http):
    watcher = await viewer(http, server)
    await watcher.wait_for(lambda m: m["type"] == "snapshot")
    start = {"scenario": "smoke", "tps": 10, "duration": "2s"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for path, body in (("/api/runs", start), ("/api/runs/current/stop", None),
                           ("/api/faults", {"type": "throttle", "intensity": 1,
                                            "duration_s": 1})):
            status, answer = await post(http, server.url + path, body, headers)
            assert status == 401 and "Authorization: Bearer" in answer["error"]
        async with http.get(f"{server.url}/api/runs/x/export/summary.json",
                            headers=headers) as response:
            assert response.status == 401
    assert await get(http, f"{server.url}/api/runs") == (200, {"current": None, "runs": []})
    await asyncio.sleep(0.2)
    assert len(watcher.messages) == 1  # nothing was broadcast
    await watcher.close()


@pytest.mark.parametrize("body, error", [
    ("{not json", "body: not valid JSON"),
    ("[1]", "body: expected a JSON object"),
    ({"scenario": "smoke", "colour": "red"}, "colour: Extra inputs are not permitted"),
    ({"scenario": "smoke", "time_scale": 0}, "time_scale: Input should be greater than 0"),
    ({"scenario": "smoke", "load_scale": "lots"}, "load_scale: Input should be a valid number"),
    ({"scenario": "no-such"}, "scenario: unknown scenario 'no-such'; known: burst"),
    ({"scenario": "../../etc/passwd"}, "scenario: String should match pattern"),
    ({"scenario": "smoke", "tps": 50}, "tps, duration: give both"),
    ({"scenario": "smoke", "tps": 5, "duration": "soon"}, "duration: not a duration: 'soon'"),
    ({"scenario": "smoke", "tps": 50_000, "duration": "10s"}, "tps: at most 20,000 TPS"),
    ({"scenario": "smoke", "tps": 10, "duration": "3h"}, "duration: at most 2:00:00"),
    ({"scenario": "peak-load", "load_scale": 3}, "tps: at most 20,000 TPS for a run started"),
    ({"scenario": "sustained", "time_scale": 1.5}, "this one lasts 3:00:00"),
    ({"scenario": "smoke", "baseline": "no-such-run"},
     "baseline: 'no-such-run': no such file, folder or run in"),
    ({"scenario": "smoke", "baseline": "../results/x"}, "baseline: String should match pattern"),
])
async def test_bad_start_requests_get_400_naming_the_field_and_start_nothing(
    server, http, body, error
):
    status, answer = await post(http, f"{server.url}/api/runs", body, AUTH)
    assert status == 400, answer
    assert error in answer["error"] and "\n" not in answer["error"]
    assert (await get(http, f"{server.url}/api/runs"))[1]["current"] is None


async def test_a_run_started_with_baseline_last_pass_and_none_found_says_so(server, http):
    watcher = await viewer(http, server)
    await watcher.wait_for(lambda m: m["type"] == "snapshot")
    status, started = await post(http, f"{server.url}/api/runs", {
        "scenario": "smoke", "tps": 20, "duration": "2s", "baseline": "last-pass"}, AUTH)
    assert status == 202, started
    await watcher.wait_for(event("run_stopped"), timeout=60)
    await server.controller.wait()
    summary = json.loads((server.controller.settings.results_dir / started["run_id"]
                          / "summary.json")
                         .read_text())
    assert summary["regression"]["asked"] == "last-pass"
    assert summary["regression"]["judged"] is False
    assert "no passing run of 'smoke'" in summary["regression"]["note"]
    await watcher.close()


async def test_oversized_bodies_are_refused(server, http):
    status, answer = await post(http, f"{server.url}/api/runs", "x" * 20_000, AUTH)
    assert status == 413 and answer["error"].startswith("body: larger than")


@pytest.mark.parametrize("body, status, error", [
    ({"type": "meteor", "intensity": 1, "duration_s": 1}, 400, "type: Input should be"),
    ({"type": "agent_errors", "intensity": 2, "duration_s": 5}, 400,
     "intensity: must be a fraction within 0..1"),
    ({"type": "slow_store", "target": "compliance", "intensity": 50, "duration_s": 5}, 400,
     "target: must be omitted for slow_store faults"),
    ({"type": "latency", "target": "nobody", "intensity": 50, "duration_s": 5}, 400,
     "target: Input should be"),
    ({"type": "latency", "intensity": 50, "duration_s": 99_999}, 400,
     "duration_s: Input should be less than or equal to 3600"),
    ({"type": "latency", "intensity": 50, "duration_s": 5}, 409, "no run in progress"),
])
async def test_fault_requests_are_checked_before_anything_happens(
    server, http, body, status, error
):
    got, answer = await post(http, f"{server.url}/api/faults", body, AUTH)
    assert got == status and error in answer["error"], answer


async def test_stop_and_export_need_a_run(server, http):
    assert await post(http, f"{server.url}/api/runs/current/stop", None, AUTH) == (
        409, {"error": "no run in progress"})
    async with http.get(f"{server.url}/api/runs/nope/export/summary.json",
                        headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json())["error"] == "run_id: no run 'nope'"
    async with http.get(f"{server.url}/api/runs/nope/export/secrets.txt",
                        headers=AUTH) as response:
        assert response.status == 404 and "export: one of summary.json" in await response.text()
    status, answer = await get(http, f"{server.url}/api/runs/nope")
    assert status == 404 and answer["error"] == "run_id: no run 'nope'"


async def test_catalogues_scenarios_fault_types_profiles_and_sourced_benchmarks(server, http):
    _, catalogue = await get(http, f"{server.url}/api/scenarios")
    smoke = next(s for s in catalogue["scenarios"] if s["name"] == "smoke")
    assert smoke["duration_s"] == 20 and smoke["peak_tps"] == 100 and smoke["description"]
    assert catalogue["limits"] == {"max_tps": 20_000, "max_duration_s": 7200}
    _, faults = await get(http, f"{server.url}/api/fault-types")
    kinds = {f["type"]: f for f in faults["fault_types"]}
    assert set(kinds) == {"agent_errors", "latency", "throttle", "agent_down", "slow_store",
                          "drop_connections"}
    assert kinds["slow_store"]["targets"] == [] and "compliance" in kinds["latency"]["targets"]
    assert kinds["latency"]["intensity"]["unit"] == "ms"
    _, profiles = await get(http, f"{server.url}/api/profiles")
    assert profiles["profiles"] == ["board", "engineering", "investor"]
    status, board = await get(http, f"{server.url}/api/profiles/board")
    assert status == 200 and board["currency"] == "EUR" and board["emphasis"][0] == "money_saved"
    assert "{money}" in board["wording"]["narrative"] and "money" in board["placeholders"]
    status, missing = await get(http, f"{server.url}/api/profiles/ceo")
    assert status == 404 and "unknown presentation profile 'ceo'" in missing["error"]
    _, benchmarks = await get(http, f"{server.url}/api/benchmarks")
    ids = [b["id"] for b in benchmarks["benchmarks"]]
    assert ids and "example-unsourced" not in ids
    assert all(b["source"]["url_or_path"] and b["source"]["date"] for b in benchmarks["benchmarks"])


async def test_pages_come_from_the_built_site_or_a_clear_503(server, http, tmp_path):
    async with http.get(f"{server.url}/presentation") as response:
        assert response.status == 503 and "make site" in await response.text()
    async with http.get(f"{server.url}/?profile=board", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/presentation?profile=board"
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "presentation.html").write_text("<h1>presentation</h1>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    async with http.get(f"{server.url}/presentation") as response:
        assert response.status == 200 and await response.text() == "<h1>presentation</h1>"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    async with http.get(f"{server.url}/assets/app.js") as response:
        assert response.status == 200 and "javascript" in response.content_type
    async with http.get(f"{server.url}/admin") as response:
        assert response.status == 503 and "admin.html" in await response.text()
    for path in ("/nothing.js", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        async with http.get(f"{server.url}{path}") as response:
            assert response.status == 404, path


async def test_a_run_from_the_api_streams_ticks_events_and_exports(server, http, tmp_path):
    # Given a dashboard watching before anything runs
    early = await viewer(http, server)
    await early.wait_for(lambda m: m["type"] == "snapshot")
    # When a 5 s run at 60 TPS is started with the token
    status, started = await post(http, f"{server.url}/api/runs",
                                 {"scenario": "smoke", "tps": 60, "duration": "5s"}, AUTH)
    assert status == 202 and started["transactions"] == 300
    run_id = started["run_id"]
    # Then a second start is refused while it runs
    status, busy = await post(http, f"{server.url}/api/runs", {"scenario": "smoke"}, AUTH)
    assert status == 409 and run_id in busy["error"]
    begun = await early.wait_for(event("run_started"))
    assert begun["run_id"] == run_id
    fresh = await early.wait_for(lambda m: m["type"] == "snapshot" and m["run"]
                                 and m["run"]["status"] == "running")
    assert fresh["run"]["duration_s"] == 5 and fresh["run"]["run_id"] == run_id

    # When a fault is injected from the admin API after the first second
    await early.wait_for(lambda m: m["type"] == "tick" and m["second"] == 0)
    fault = {"type": "latency", "target": "compliance", "intensity": 20, "duration_s": 2}
    status, window = await post(http, f"{server.url}/api/faults", fault, AUTH)
    assert status == 201 and window["status"] == "injected"
    injected = await early.wait_for(event("fault_injected"))
    assert injected["detail"]["key"] == "latency:compliance"
    faulted = await early.wait_for(
        lambda m: m["type"] == "tick" and "latency:compliance" in m["faults_active"])
    assert faulted["second"] >= 1

    # And a viewer joins late: its snapshot holds the history so far
    late = await viewer(http, server)
    catch_up = await late.wait_for(lambda m: m["type"] == "snapshot")
    seen_then = [t["second"] for t in catch_up["history"]]
    assert seen_then == list(range(len(seen_then))) and len(seen_then) >= 2
    assert {"run_started", "fault_injected"} <= {e["event"] for e in catch_up["events"]}

    # Then the run ends and both viewers agree with each other and with the summary
    stopped = await early.wait_for(event("run_stopped"), timeout=30)
    assert stopped["detail"]["status"] == "completed"
    await late.wait_for(event("run_stopped"))
    ticks = early.ticks()
    assert [t["second"] for t in ticks] == list(range(len(ticks))) and len(ticks) >= 5
    late_view = catch_up["history"] + late.ticks()
    assert [t["second"] for t in late_view] == [t["second"] for t in ticks]
    processed = 0
    for tick in ticks:
        processed += tick["window"]["ok"]
        assert tick["hero"]["current_tps"] == tick["window"]["ok"]
        assert tick["hero"]["transactions_processed"] >= processed
        assert tick["infra"]["target"]["rss_mb"] > 0 and len(tick["infra"]["workers"]) == 2
    status, record = await get(http, f"{server.url}/api/runs/{run_id}")
    counts = record["summary"]["counts"]
    assert ticks[-1]["hero"]["transactions_processed"] == processed == counts["ok"]
    assert counts["scheduled"] == 300 and record["status"] == "completed"
    assert [f["label"] for f in record["summary"]["faults"]] == ["Injected from the admin page"]
    assert (await get(http, f"{server.url}/api/runs"))[1]["current"] is None

    # And the four exports come from the store, as downloads
    expected = {"summary.json": "application/json", "timeseries.csv": "text/csv",
                "report.html": "text/html", "junit.xml": "application/xml"}
    for name, content_type in expected.items():
        async with http.get(f"{server.url}/api/runs/{run_id}/export/{name}",
                            headers=AUTH) as response:
            assert response.status == 200 and response.content_type == content_type
            assert response.headers["Content-Disposition"] == (
                f'attachment; filename="{run_id}-{name}"')
            body = await response.text()
        assert {"summary.json": run_id, "timeseries.csv": "second,target_tps",
                "report.html": "<html", "junit.xml": "<testsuite"}[name] in body
    assert json.loads((tmp_path / "results" / run_id / "summary.json").read_text())[
        "counts"] == counts
    await early.close()
    await late.close()


async def test_stop_aborts_the_run_in_progress(server, http):
    watcher = await viewer(http, server)
    status, started = await post(http, f"{server.url}/api/runs",
                                 {"scenario": "smoke", "tps": 20, "duration": "60s"}, AUTH)
    assert status == 202
    await watcher.wait_for(lambda m: m["type"] == "tick")
    status, answer = await post(http, f"{server.url}/api/runs/current/stop", None, AUTH)
    assert status == 202 and answer == {"run_id": started["run_id"], "status": "stopping"}
    stopped = await watcher.wait_for(event("run_stopped"), timeout=30)
    assert stopped["detail"]["status"] == "aborted"
    _, record = await get(http, f"{server.url}/api/runs/{started['run_id']}")
    assert record["status"] == "aborted"
    assert (await post(http, f"{server.url}/api/runs/current/stop", None, AUTH))[0] == 409
    await watcher.close()


async def test_the_demo_command_prints_its_pages_and_stops_on_ctrl_c(tmp_path, http):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stresslab", "demo", "--port", "0", "--no-autostart",
        "--db", str(tmp_path / "runs.db"), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "Ctrl-C to stop.":
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, (lines, await process.stderr.read())  # type: ignore[union-attr]
        lines.append(line.decode().rstrip())
    base = re.fullmatch(r"stresslab demo: dashboards at (http://127\.0\.0\.1:\d+)", lines[0])
    assert base is not None
    pages = dict(line.split() for line in lines[1:5])
    assert pages["presentation"] == f"{base[1]}/presentation"
    assert re.fullmatch(rf"{base[1]}/admin#token=[\w-]{{20,}}", pages["admin"])
    status, config = await get(http, f"{base[1]}/config.json")
    assert status == 200 and config["mode"] == "local"
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 30) == 0
