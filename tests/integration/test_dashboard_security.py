"""The dashboard server against hostile pages and greedy viewers: Origin and Host allow-lists,
connection caps, timeouts, coalesced resyncs, bounded snapshots, CSP, the token off the URL."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from stresslab.judgement.business import load_price_table
from stresslab.local.demo import DemoFailed, DemoOptions, banner, run_demo
from stresslab.local.hub import HubLimits
from stresslab.local.server import RunningServer, ServerSettings, start_server
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import Snapshot, describe_run
from stresslab.measurement.live_feed import (
    SNAPSHOT_OLDER_TICKS,
    SNAPSHOT_RECENT_S,
    LiveFeed,
    thin_history,
)
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.spec import parse_scenario
from tests.viewer import Viewer

pytestmark = pytest.mark.timeout(60)

TOKEN = "s3cret-token-for-tests"
ROOT = Path(__file__).resolve().parents[2]


async def serve(tmp_path: Path, **overrides: object) -> RunningServer:
    settings = ServerSettings(port=0, token=TOKEN, db_path=tmp_path / "runs.db",
                              results_dir=tmp_path / "results", site_dir=tmp_path / "dist",
                              **overrides)  # type: ignore[arg-type]
    return await start_server(settings)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await serve(tmp_path)
    yield running
    await running.stop()


def built_site(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True, exist_ok=True)
    for page in ("presentation", "analytics", "agents", "admin"):
        (dist / f"{page}.html").write_text(f"<h1>{page}</h1>")
    (dist / "assets" / "app.js").write_text("console.log(1)")


# ------------------------------------------------------------------ Origin and Host


@pytest.mark.parametrize("origin", ["http://127.0.0.1:1", "http://evil.example", "null",
                                    "http://localhost.evil.example:{port}"])
async def test_a_websocket_from_another_origin_is_refused_before_the_upgrade(
        server, http, origin):
    # Given a page of another origin (another port on loopback, another site, a sandbox)
    port = server.url.rsplit(":", 1)[1]
    # When it opens the live feed
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{server.url}/ws", origin=origin.format(port=port))
    # Then the handshake gets 403 and no viewer was added
    assert refused.value.status == 403
    assert server.controller.hub.viewers == 0


async def test_the_dashboards_own_origin_and_tools_without_one_are_served(server, http):
    for origin in (server.url, server.url.replace("127.0.0.1", "localhost"), None):
        headers = {} if origin is None else {"Origin": origin}
        if origin and "localhost" in origin:
            headers["Host"] = origin.removeprefix("http://")
        socket = await http.ws_connect(f"{server.url}/ws", headers=headers)
        watcher = Viewer(socket)
        assert (await watcher.wait_for(lambda m: True))["type"] == "snapshot"
        await watcher.close()
        async with http.get(f"{server.url}/api/runs", headers=headers) as response:
            assert response.status == 200, origin


async def test_api_reads_from_another_origin_are_refused_with_one_line(server, http):
    for path in ("/api/runs", "/api/scenarios", "/api/runs/some-run"):
        async with http.get(f"{server.url}{path}",
                            headers={"Origin": "http://127.0.0.1:9"}) as response:
            assert response.status == 403, path
            body = await response.json()
            assert body["error"].startswith("origin:") and "\n" not in body["error"]
            assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "10.0.0.7:{port}"])
async def test_a_foreign_host_header_is_refused_everywhere_dns_rebinding(server, http, host):
    # Given a rebinding page: the browser sends its own name as Host, and no Origin (same-origin)
    port = server.url.rsplit(":", 1)[1]
    headers = {"Host": host.format(port=port)}
    for path in ("/api/runs", "/config.json", "/api/scenarios"):
        async with http.get(f"{server.url}{path}", headers=headers) as response:
            assert response.status == 403, path
            assert "host:" in await response.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{server.url}/ws", headers=headers)
    assert refused.value.status == 403


async def test_the_configured_host_is_allowed(tmp_path, http):
    running = await serve(tmp_path, allowed_hosts=("dashboard.lan",))
    try:
        port = running.url.rsplit(":", 1)[1]
        headers = {"Host": f"dashboard.lan:{port}", "Origin": f"http://dashboard.lan:{port}"}
        async with http.get(f"{running.url}/api/runs", headers=headers) as response:
            assert response.status == 200
    finally:
        await running.stop()


def test_bound_to_every_interface_the_machines_own_names_are_allowed_and_no_other():
    names = ServerSettings(host="0.0.0.0").host_names()
    assert {"127.0.0.1", "localhost", "::1", socket.gethostname().lower()} <= names
    assert "0.0.0.0" not in names and "evil.example" not in names
    assert ServerSettings(host="192.0.2.7").host_names() == {"127.0.0.1", "localhost", "::1",
                                                             "192.0.2.7"}


# ------------------------------------------------------------------ caps and timeouts


async def test_viewers_from_one_address_are_capped(tmp_path, http):
    running = await serve(tmp_path, hub_limits=HubLimits(max_viewers_per_address=3))
    try:
        held = [Viewer(await http.ws_connect(f"{running.url}/ws")) for _ in range(3)]
        for watcher in held:
            await watcher.wait_for(lambda m: m["type"] == "snapshot")
        extra = await http.ws_connect(f"{running.url}/ws")
        message = await asyncio.wait_for(extra.receive(), 10)
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1013
        assert "from your address" in message.extra
        assert running.controller.hub.viewers == 3
        await held[0].close()
        for _ in range(50):
            if running.controller.hub.viewers == 2:
                break
            await asyncio.sleep(0.05)
        again = Viewer(await http.ws_connect(f"{running.url}/ws"))
        assert (await again.wait_for(lambda m: True))["type"] == "snapshot"
    finally:
        await running.stop()


async def open_connection(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def closed_by_server(reader: asyncio.StreamReader, within_s: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(4096), within_s):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def test_connections_beyond_the_total_cap_are_closed_at_once(tmp_path):
    running = await serve(tmp_path, max_connections=4)
    try:
        idle = [await open_connection(running.url) for _ in range(4)]
        reader, writer = await open_connection(running.url)
        assert await closed_by_server(reader, 10)
        for _, kept in idle:
            assert not kept.is_closing()
        writer.close()
        for _, kept in idle:
            kept.close()
    finally:
        await running.stop()


async def test_a_slowloris_header_and_an_idle_keepalive_are_cut_by_the_timeout(tmp_path):
    running = await serve(tmp_path, keepalive_timeout_s=0.5)
    try:
        # Given a client that trickles its headers a line at a time and never ends them
        reader, writer = await open_connection(running.url)
        writer.write(b"GET /config.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        async def trickle() -> None:
            for n in range(200):
                writer.write(f"X-Slow-{n}: y\r\n".encode())
                await writer.drain()
                await asyncio.sleep(0.05)

        trickling = asyncio.create_task(trickle())
        # Then the server hangs up on it well before it could finish
        assert await closed_by_server(reader, 10)
        trickling.cancel()
        writer.close()
        # And a keep-alive connection left idle after its answer is closed too
        reader, writer = await open_connection(running.url)
        writer.write(b"GET /config.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert await closed_by_server(reader, 10)
        writer.close()
    finally:
        await running.stop()


def test_the_default_timeouts_and_caps_are_tight():
    settings = ServerSettings()
    assert settings.keepalive_timeout_s <= 30
    assert 0 < settings.max_connections <= 1024
    assert settings.hub_limits.max_viewers_per_address <= 32
    assert settings.hub_limits.resync_interval_s >= 2
    assert settings.hub_limits.max_messages_per_s <= 5


# ------------------------------------------------------------------ snapshots


async def test_a_burst_of_resyncs_gets_one_snapshot_later_not_one_each(tmp_path, http):
    running = await serve(tmp_path, hub_limits=HubLimits(resync_interval_s=1.0))
    try:
        socket = await http.ws_connect(f"{running.url}/ws")
        watcher = Viewer(socket)
        await watcher.wait_for(lambda m: m["type"] == "snapshot")
        built = running.controller.hub.snapshots_built
        for _ in range(5):  # as many as a viewer may send in a second
            await socket.send_str('{"type": "resync"}')
        snapshots = lambda: [m for m in watcher.messages if m["type"] == "snapshot"]  # noqa: E731
        await watcher.wait_for(lambda m: len(snapshots()) == 2)
        await asyncio.sleep(1.5)  # a second answer would have come by now
        await socket.send_str('{"type": "ping"}')
        await watcher.wait_for(lambda m: m["type"] == "pong")
        assert len(snapshots()) == 2
        assert running.controller.hub.snapshots_built - built <= 1
        await watcher.close()
    finally:
        await running.stop()


async def test_one_snapshot_is_built_for_many_viewers_and_sent_uncompressed(server, http):
    # Given eight viewers that offer per-message deflate (aiohttp's client does by default)
    viewers = [Viewer(await http.ws_connect(f"{server.url}/ws")) for _ in range(8)]
    for watcher in viewers:
        await watcher.wait_for(lambda m: m["type"] == "snapshot")
    # Then one snapshot was built for all, and nothing is compressed per viewer
    assert server.controller.hub.snapshots_built == 1
    assert all(watcher.socket.compress == 0 for watcher in viewers)
    for watcher in viewers:
        await watcher.close()


def test_the_snapshot_of_a_long_run_is_bounded_and_keeps_recent_seconds_whole():
    # Given a live feed twice as long as a snapshot holds whole
    seconds = 2 * (SNAPSHOT_RECENT_S + SNAPSHOT_OLDER_TICKS)
    spec = parse_scenario({"name": "long", "phases": [
        {"name": "a", "shape": "constant", "tps": 10, "duration": seconds}]}, "test")
    run = describe_run(spec, "r1", "2026-11-27T00:00:00Z", "running", "http://t",
                       [10.0] * seconds)
    live = LiveFeed(spec, run, load_price_table(), usd_to_currency=1.0)
    aggregator = RunAggregator("r1", [10.0] * seconds)
    stats = WindowStats()
    stats.scheduled = stats.sent = stats.ok = 10
    for _ in range(10):
        record_us(stats.latency, 0.01)
    short = None
    for second in range(seconds):
        aggregator.add(stats.to_batch("r1", "w", 0, second, second, second))
        live.tick(aggregator, second)
        if second == 99:
            short = live.snapshot()
    # Then a short run's snapshot is whole
    assert short is not None and [t.second for t in short.history] == list(range(100))
    # And the long run's is bounded, starts at the start and ends with every recent second
    held = [t.second for t in live.snapshot().history]
    assert len(held) <= SNAPSHOT_RECENT_S + SNAPSHOT_OLDER_TICKS
    assert held[0] == 0 and held == sorted(held)
    assert held[-SNAPSHOT_RECENT_S:] == list(range(seconds - SNAPSHOT_RECENT_S, seconds))
    assert len(live.history) == seconds  # the feed itself keeps everything
    # And whatever the length (two hours here), the snapshot stays the same size
    tick = live.history[-1]
    two_hours = [tick.model_copy(update={"second": s}) for s in range(7200)]
    thinned = thin_history(two_hours)
    assert len(thinned) <= SNAPSHOT_RECENT_S + SNAPSHOT_OLDER_TICKS
    ticks_bytes = len(Snapshot(run=run, history=thinned).to_json()) - \
        len(Snapshot(run=run).to_json())
    assert ticks_bytes <= (SNAPSHOT_RECENT_S + SNAPSHOT_OLDER_TICKS) * (len(tick.to_json()) + 8)


# ------------------------------------------------------------------ headers and the token


async def test_every_page_and_answer_carries_csp_and_frame_denial(server, http, tmp_path):
    built_site(tmp_path)
    host = server.url.removeprefix("http://")
    for path in ("/presentation", "/admin", "/analytics", "/agents", "/assets/app.js",
                 "/config.json", "/api/runs", "/missing.js"):
        async with http.get(f"{server.url}{path}") as response:
            csp = response.headers.get("Content-Security-Policy", "")
            directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
            assert directives.get("script-src") == ["'self'"], (path, csp)
            assert directives.get("frame-ancestors") == ["'none'"], path
            assert f"ws://{host}" in directives.get("connect-src", []), path
            assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_token_is_dropped_from_every_redirect(server, http, tmp_path):
    built_site(tmp_path)
    for path, expected in (("/?token=abc&profile=board", "/presentation?profile=board"),
                           ("/?token=abc", "/presentation"),
                           ("/admin?token=abc", "/admin"),
                           ("/presentation?profile=board&token=abc",
                            "/presentation?profile=board")):
        async with http.get(f"{server.url}{path}", allow_redirects=False) as response:
            assert response.status == 302, path
            assert response.headers["Location"] == expected
            assert "abc" not in json.dumps(dict(response.headers))


async def test_the_printed_admin_url_carries_the_token_in_the_fragment(server):
    urls = server.page_urls()
    assert urls["admin"] == f"{server.url}/admin#token={TOKEN}"
    assert all("token" not in url for page, url in urls.items() if page != "admin")
    assert all("?token" not in line for line in banner(server, True, "127.0.0.1"))


async def test_a_non_loopback_host_needs_allow_remote(server, tmp_path):
    # When the demo is asked to listen on every interface without --allow-remote
    with pytest.raises(DemoFailed) as refused:
        await run_demo(DemoOptions(host="0.0.0.0", port=0, autostart=False,
                                   db_path=tmp_path / "r.db"), say=lambda _: None)
    # Then it refuses in one line naming the flag, and binds nothing
    assert "--allow-remote" in str(refused.value) and "\n" not in str(refused.value)
    # And with it, the banner says plainly what is exposed
    warning = " ".join(banner(server, True, "0.0.0.0"))
    for exposed in ("WARNING", "live feed", "spec", "summar", "unencrypted"):
        assert exposed in warning


def test_the_cli_refuses_a_remote_host_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stresslab", "demo", "--host", "0.0.0.0", "--port", "0",
         "--no-autostart", "--db", str(tmp_path / "runs.db")],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--allow-remote" in done.stderr
    assert "Traceback" not in done.stderr
