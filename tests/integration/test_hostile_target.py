"""A hostile target on 127.0.0.1: huge bodies, endless names, markup, garbage, slowloris.

Each case is a real short run (worker processes, SQLite, outputs) against an aiohttp server
that misbehaves in one way. Whatever the target answers, the counts reconcile with the
target's own count, the metrics stay bounded, the summary says what happened in a note, and
report.html holds no markup from the target.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.local.store import SqliteRunStore
from stresslab.scenario.spec import parse_scenario
from tests.conftest import free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

TPS, SECONDS = 60, 3
WORKER_RSS_LIMIT_MB = 250
MARKUP = "<img src=x onerror=window.__pwned=1>"
Answer = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def huge_bodies(_: web.Request, n: int) -> web.StreamResponse:
    if n % 2:
        return _json({"decision": "approve", "pad": "x" * 300_000})
    return _json({"decision": "approve"})


async def endless_names(_: web.Request, n: int) -> web.StreamResponse:
    agents: dict[str, Any] = {"geo_risk": {"ms": 2.0}}
    agents.update({f"agent-{n}-{k}": {"ms": 1.5, "error": k == 0} for k in range(40)})
    return _json({"decision": f"txn-{n}" if n % 3 else "block", "agents": agents})


async def markup_names(_: web.Request, n: int) -> web.StreamResponse:
    return _json({"decision": f"<script>alert({n % 2})</script>", "agents": {
        MARKUP: {"ms": 1.0}, '"><svg onload=alert(1)>': {"ms": 2.0},
        "geo\u202e\x00risk" + "y" * 300: {"ms": 3.0}, "velocity": {"ms": "NaN"},
    }})


async def garbage(_: web.Request, n: int) -> web.StreamResponse:
    bodies = [b"not json", b"[1, 2, 3]", b'{"decision": ', b"[" * 5000 + b"]" * 5000,
              b'{"decision": {"nested": [1, {"x": null}]}, "agents": [1, 2]}',
              b'{"decision": "approve", "agents": {"a": {"ms": 1e308}, "b": {"ms": -5}}}',
              b"\xff\xfe\x00garbage"]
    return web.Response(body=bodies[n % len(bodies)], content_type="application/json")


async def slowloris(request: web.Request, n: int) -> web.StreamResponse:
    if n % 2:
        return _json({"decision": "approve"})
    response = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Content-Length": "100000"})
    await response.prepare(request)
    for _ in range(40):  # headers at once, then a byte every 100 ms: never done in time
        await response.write(b" ")
        await asyncio.sleep(0.1)
    return response


@dataclass
class HostileTarget:
    """An aiohttp server in its own thread and loop, counting the requests it received."""

    answer: Answer
    received: int = 0
    url: str = ""
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.received += 1
        return await self.answer(request, self.received)

    def start(self) -> None:
        port = free_port()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_post("/v1/score", self._handle)
            self._runner = web.AppRunner(app, handle_signals=False)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(10), "the hostile target did not start"
        self.url = f"http://127.0.0.1:{port}/v1/score"

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], HostileTarget]]:
    started: list[HostileTarget] = []

    def start(answer: Answer) -> HostileTarget:
        target = HostileTarget(answer)
        target.start()
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


async def run_against(target: HostileTarget, tmp_path: Path) -> tuple[dict[str, Any], str, Path]:
    spec = parse_scenario({
        "name": "hostile", "workers": 1,
        "phases": [{"shape": "constant", "tps": TPS, "duration": SECONDS}],
        "http": {"timeout": "1s", "connections": 64},
    }, "test")
    out = tmp_path / "out"
    run = LocalRun(LocalRunOptions(spec=spec, target_url=target.url, db_path=tmp_path / "db",
                                   out_dir=out, progress=False))
    result = await run.execute()
    await asyncio.sleep(0.2)  # answers the target is still trickling are cut by now
    return result.summary, (out / "report.html").read_text(encoding="utf-8"), tmp_path / "db"


def assert_reconciled(summary: dict[str, Any], target: HostileTarget) -> dict[str, Any]:
    counts = summary["counts"]
    assert counts["scheduled"] == counts["sent"] + counts["dropped"] == TPS * SECONDS
    assert counts["sent"] == counts["ok"] + counts["errors"] + counts["timeouts"]
    assert target.received == counts["sent"]
    assert summary["status"] == "completed"
    return counts


def assert_bounded(summary: dict[str, Any], db: Path) -> None:
    assert len(summary["decisions"]) <= 8 + 1
    assert len(summary["agents"]) <= 16 + 1
    assert all(len(name) <= 64 and "<" not in name for name in summary["agents"])
    store = SqliteRunStore(db)
    try:
        batches = list(store.batches(summary["run_id"]))
    finally:
        store.close()
    assert batches
    assert all(len(b.agents) <= 17 and len(b.decisions) <= 9 for b in batches)
    # and the worker process stayed small (it reports its own resident memory)
    rss = [b.health.rss_mb for b in batches if b.health.rss_mb is not None]
    assert rss and max(rss) < WORKER_RSS_LIMIT_MB, rss


def assert_no_markup(report: str) -> None:
    for raw in ("<img", "<script", "<svg onload"):
        assert raw not in report, raw


async def test_huge_bodies_are_oversized_errors_counted_once(hostile, tmp_path):
    target = hostile(huge_bodies)
    summary, report, db = await run_against(target, tmp_path)
    counts = assert_reconciled(summary, target)
    assert counts["errors_by_class"]["oversized"] == counts["sent"] // 2
    assert counts["ok"] == counts["sent"] - counts["sent"] // 2
    assert any("larger than 64 KiB counted as 'oversized'" in n for n in summary["notes"])
    assert_bounded(summary, db)


async def test_thousands_of_names_fold_into_other(hostile, tmp_path):
    target = hostile(endless_names)
    summary, report, db = await run_against(target, tmp_path)
    counts = assert_reconciled(summary, target)
    assert counts["ok"] == counts["sent"]
    assert sum(summary["decisions"].values()) == counts["ok"]
    assert summary["decisions"]["other"] > 0 and "block" in summary["decisions"]
    assert "geo_risk" in summary["agents"] and "other" in summary["agents"]
    assert sum(a["calls"] for a in summary["agents"].values()) == 41 * counts["ok"]
    notes = " ".join(summary["notes"])
    assert "beyond the first 8 distinct values" in notes
    assert "beyond the first 16 agent names" in notes
    assert_bounded(summary, db)


async def test_markup_in_names_is_cleaned_and_never_reaches_the_report(hostile, tmp_path):
    target = hostile(markup_names)
    summary, report, db = await run_against(target, tmp_path)
    counts = assert_reconciled(summary, target)
    assert counts["ok"] == counts["sent"]
    assert "img src=x onerror=window.__pwned=1" in summary["agents"]
    assert "scriptalert(0)/script" in summary["decisions"]
    assert any("names from the target cleaned" in n for n in summary["notes"])
    assert_bounded(summary, db)
    assert_no_markup(report)


async def test_garbage_answers_are_invalid_responses(hostile, tmp_path):
    target = hostile(garbage)
    summary, report, db = await run_against(target, tmp_path)
    counts = assert_reconciled(summary, target)
    assert counts["errors_by_class"]["invalid_response"] > 0 and counts["ok"] > 0
    assert_bounded(summary, db)
    assert_no_markup(report)


async def test_slowloris_answers_time_out(hostile, tmp_path):
    target = hostile(slowloris)
    summary, report, db = await run_against(target, tmp_path)
    counts = assert_reconciled(summary, target)
    assert counts["timeouts"] == counts["sent"] // 2
    assert counts["ok"] == counts["sent"] - counts["sent"] // 2

