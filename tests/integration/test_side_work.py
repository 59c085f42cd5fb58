"""A run never dies of its side work: the reference service's admin API killed, stalled and
delayed at each call site (inject, clear, clear_all, degradation, stats, probe) by a real HTTP
proxy in front of its admin port, while a real local run goes on; the run completes and writes
its outputs, with notes on what went wrong, and viewers are told while it happens."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web

from stresslab.local.reference_process import ReferenceService
from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.local.store import SqliteRunStore
from stresslab.scenario.spec import parse_scenario

pytestmark = pytest.mark.timeout(180)

Mode = Literal["kill", "stall", "delay"]
Site = Literal["inject", "clear", "clear_all", "degradation", "stats", "probe"]
DELAY_S = 2.5  # longer than the runner's 2 s per call: the service acts, the answer is late


def site_of(method: str, path: str) -> Site | None:
    if path == "/admin/faults":
        return {"POST": "inject", "DELETE": "clear_all"}.get(method)  # type: ignore[return-value]
    if path.startswith("/admin/faults/") and method == "DELETE":
        return "clear"
    return {("POST", "/admin/degradation"): "degradation", ("GET", "/admin/stats"): "stats",
            ("GET", "/admin/health"): "probe"}.get((method, path))  # type: ignore[return-value]


@dataclass
class AdminProxy:
    """Forwards to the admin API, except at the broken call sites: there it closes the
    connection (kill), never answers (stall), or forwards and answers late (delay)."""

    upstream: str
    broken: dict[Site, Mode] = field(default_factory=dict)
    failures_left: dict[Site, int] | None = None  # None: broken for good
    calls: Counter[Site] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)  # fault ids the service really made
    url: str = ""

    def __post_init__(self) -> None:
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _mode(self, site: Site | None) -> Mode | None:
        if site is None or site not in self.broken:
            return None
        if self.failures_left is not None:
            if self.failures_left.get(site, 0) <= 0:
                return None
            self.failures_left[site] -= 1
        return self.broken[site]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        site = site_of(request.method, request.path)
        if site is not None:
            self.calls[site] += 1
        mode = self._mode(site)
        if mode == "kill":
            request.protocol.force_close()
            return web.Response(status=502)  # never delivered: the connection is gone
        if mode == "stall":
            await self._closing.wait()
            return web.Response(status=504)
        answer = await self._forward(request)
        if mode == "delay":
            await asyncio.sleep(DELAY_S)
        return answer

    async def _forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items()
                   if k in ("Authorization", "Content-Type", "Idempotency-Key")}
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, self.upstream + request.path_qs,
                                       data=await request.read(), headers=headers) as response:
                body = await response.read()
        if request.method == "POST" and request.path == "/admin/faults" and response.ok:
            self.created.append(json.loads(body)["fault_id"])
        return web.Response(status=response.status, body=body,
                            content_type="application/json")


class Recorder:
    """A Broadcaster that keeps every message (it also turns the health probe on)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, message: str) -> None:
        self.messages.append(json.loads(message))

    def notes(self) -> list[str]:
        return [m["detail"]["message"] for m in self.messages
                if m["type"] == "event" and m["event"] == "run_note"]


def spec():
    # Every agent fails from 1 s to 2.5 s, so the level goes CRITICAL and back (degradation).
    return parse_scenario({
        "name": "side-work",
        "workers": 1,
        "phases": [{"shape": "constant", "tps": 40, "duration": 6}],
        "criteria": ["lost == 0"],
        "faults": [{"type": "agent_errors", "at": 1, "duration": 1.5, "intensity": 1.0}],
        "degradation": {"apply": True, "recover_after_s": 1},
    }, "test")


@pytest.fixture
async def reference() -> AsyncIterator[ReferenceService]:
    service = await ReferenceService.start()
    yield service
    await service.stop()


async def run_through(proxy: AdminProxy, reference: ReferenceService, out: Path,
                      ) -> tuple[dict[str, Any], Recorder]:
    await proxy.start()
    reference.admin_url = proxy.url  # every side call of the run goes through the proxy
    recorder = Recorder()
    run = LocalRun(LocalRunOptions(spec=spec(), reference=reference, broadcaster=recorder,
                                   db_path=out / "runs.db", out_dir=out / "results",
                                   progress=False))
    try:
        result = await run.execute()
    finally:
        await proxy.stop()
    # The outputs are written, and the summary on disk is the one returned
    written = json.loads((out / "results" / "summary.json").read_text())
    assert written["run_id"] == run.run_id == result.summary["run_id"]
    return result.summary, recorder


# What the summary says when a call site is out for good, and whether viewers hear of it live.
EXPECTED: dict[Site, tuple[str, bool]] = {
    "inject": ("could not be injected", True),
    "clear": ("could not be cleared for", True),
    "clear_all": ("the target's faults could not be cleared after the run", False),
    "degradation": ("could not be sent to the target", True),
    "stats": ("the target's own count could not be read", False),
    "probe": ("health probes of the target went unanswered", False),
}


@pytest.mark.parametrize("mode", ["kill", "stall", "delay"])
@pytest.mark.parametrize("site", list(EXPECTED))
async def test_a_call_site_out_for_the_whole_run_never_ends_the_run(
    tmp_path: Path, reference: ReferenceService, site: Site, mode: Mode
) -> None:
    # Given the admin API broken at one call site for the whole run
    proxy = AdminProxy(reference.admin_url, broken={site: mode})
    # When a run with a fault and degradation goes through it
    summary, recorder = await run_through(proxy, reference, tmp_path)
    # Then the site was called, and the run still completed with its outputs and every request
    assert proxy.calls[site] >= 1
    assert summary["status"] == "completed", summary["notes"]
    counts = summary["counts"]
    assert counts["scheduled"] == 240 and counts["sent"] == 240 and counts["reconciled"]
    # And a note says what went wrong at that site, in one line
    words, live = EXPECTED[site]
    noted = [n for n in summary["notes"] if words in n]
    assert len(noted) == 1 and "\n" not in noted[0], summary["notes"]
    assert "Traceback" not in noted[0] and noted[0].strip(": ") == noted[0]
    # And viewers were told while the run went on, for the sites a run waits on
    if live:
        assert any(words in note for note in recorder.notes()), recorder.notes()
    # And the service made the fault at most once however many times it was asked
    assert len(set(proxy.created)) <= 1
    if site == "stats":
        assert counts["target_received"] is None
    else:
        assert counts["target_received"] == 240


@pytest.mark.parametrize("mode", ["kill", "stall", "delay"])
async def test_the_first_calls_at_every_site_failing_are_retried_and_the_run_is_whole(
    tmp_path: Path, reference: ReferenceService, mode: Mode
) -> None:
    # Given every call site failing on its first call, then answering
    sites: list[Site] = ["inject", "clear", "clear_all", "degradation", "stats", "probe"]
    proxy = AdminProxy(reference.admin_url, broken=dict.fromkeys(sites, mode),
                       failures_left=dict.fromkeys(sites, 1))
    # When the run goes through it
    summary, _ = await run_through(proxy, reference, tmp_path)
    # Then the fault was injected exactly once (a retried POST finds the fault it made)
    assert summary["status"] == "completed", summary["notes"]
    assert len(proxy.created) >= 1 and len(set(proxy.created)) == 1
    (window,) = summary["faults"]
    assert window["status"] == "cleared" or window["status"].startswith("expired"), window
    # And the level reached the target, and the target's own count was read on a retry
    assert proxy.calls["degradation"] >= 2
    assert summary["degradation"][0]["level"] == "CRITICAL"
    assert not any("could not be sent" in n for n in summary["notes"])
    assert summary["counts"]["target_received"] == 240
    # And the service is left clean: no fault and level NONE
    reference.admin_url = proxy.upstream
    assert (await reference.admin.call("GET", "/admin/faults")) == {"faults": []}
    assert (await reference.admin.call("GET", "/admin/degradation")) == {"level": "NONE"}


async def test_a_locked_run_store_is_retried_and_the_run_keeps_every_batch(
    tmp_path: Path, reference: ReferenceService
) -> None:
    # Given another program holding the run store locked for longer than SQLite waits (5 s)
    db = tmp_path / "runs.db"
    released = threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        released.wait(7)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_lock)

    def lock_once(row: dict[str, Any]) -> None:
        if row["second"] >= 1 and holder.ident is None:
            holder.start()

    run = LocalRun(LocalRunOptions(spec=spec(), reference=reference, db_path=db,
                                   out_dir=tmp_path / "results", progress=False,
                                   on_second=lock_once))
    # When the run goes on meanwhile
    try:
        result = await run.execute()
    finally:
        released.set()
        holder.join(10)
    # Then it completed with its outputs, and says the store was retried
    summary = result.summary
    assert summary["status"] == "completed", summary["notes"]
    assert (tmp_path / "results" / "summary.json").is_file()
    assert any("could not be written" in n for n in summary["notes"]), summary["notes"]
    # And the store holds every batch and the finished run after all
    store = SqliteRunStore(db)
    assert store.get_run(result.run_id)["status"] == "completed"
    assert sum(b.sent for b in store.batches(result.run_id)) == summary["counts"]["sent"] == 240
