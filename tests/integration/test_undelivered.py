"""Requests that never leave the worker (no connection in time) are counted, and explained.

A target that holds every answer ties up the worker's few connections, so later requests wait
for one past their timeout and are never written. They count as sent and as timeouts (the
user's view), and as `undelivered`, so the target's own count equals sent - undelivered.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.outputs.checks import reconcile_counts
from stresslab.scenario.spec import parse_scenario
from tests.integration.test_hostile_target import HostileTarget

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

# A connection whose request timed out is closed and the oldest waiting request takes a new one,
# so a worker delivers every request that can get a fresh connection before its deadline: one
# connection and a new arrival every millisecond leave no time for a reconnect per request.
TPS, SECONDS, CONNECTIONS = 1000, 1, 1


async def held(_: web.Request, __: int) -> web.StreamResponse:
    await asyncio.sleep(2)  # past the worker's timeout: its connection is given up
    return web.json_response({"decision": "approve"})


async def test_requests_that_never_got_a_connection_are_undelivered(tmp_path: Path) -> None:
    # Given a target that holds every answer, and a worker with one connection
    target = HostileTarget(held)
    target.start()
    try:
        spec = parse_scenario({
            "name": "held", "workers": 1,
            "phases": [{"shape": "constant", "tps": TPS, "duration": SECONDS}],
            "http": {"timeout": "0.5s", "connections": CONNECTIONS},
        }, "test")
        run = LocalRun(LocalRunOptions(spec=spec, target_url=target.url, db_path=tmp_path / "db",
                                       out_dir=tmp_path / "out", progress=False))
        # When it runs
        summary = (await run.execute()).summary
        await asyncio.sleep(0.2)
    finally:
        target.stop()
    counts = summary["counts"]
    # Then every request timed out, most of them waiting for a connection
    assert counts["sent"] == counts["timeouts"] == TPS * SECONDS
    assert 0 < counts["undelivered"] < counts["sent"]
    # And the target saw exactly the others
    assert target.received == counts["sent"] - counts["undelivered"]
    assert counts["reconciled"] is True
    assert all(check.passed is not False for check in reconcile_counts(counts))
    # And a note says why
    assert any("never reached the target" in note and "http.connections" in note
               for note in summary["notes"])
