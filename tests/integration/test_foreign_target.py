"""Counts reconcile against a plain HTTP server that is not ours: nginx's own access log."""

from __future__ import annotations

import pytest

from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.scenario.spec import parse_scenario

pytestmark = pytest.mark.timeout(120)


async def test_sent_equals_what_nginx_logged(nginx, tmp_path):
    # Given nginx answering every POST with an "approve" decision
    spec = parse_scenario({
        "name": "nginx",
        "workers": 2,
        "phases": [{"shape": "ramp", "from_tps": 100, "to_tps": 400, "duration": 4}],
        "criteria": ["lost == 0"],
    }, "test")
    run = LocalRun(LocalRunOptions(spec=spec, target_url=nginx.url, db_path=tmp_path / "db",
                                   progress=False))
    # When stresslab runs against it
    result = await run.execute()
    counts = result.summary["counts"]
    # Then the target's own count (its access log) equals what stresslab says it sent
    assert counts["target_received"] is None  # stresslab cannot ask nginx; the test can
    assert nginx.requests_logged(counts["sent"]) == counts["sent"] == run.plan.scheduled_total
    assert counts["scheduled"] == counts["sent"] + counts["dropped"]
    assert counts["sent"] == counts["ok"] + counts["errors"] + counts["timeouts"]
    assert counts["ok"] == counts["sent"]
    # And every answer was scored: legitimate ones approved, fraud missed
    accuracy = result.summary["accuracy"]
    assert accuracy["labelled"] == counts["ok"]
    assert accuracy["tp"] == accuracy["fp"] == 0
    assert result.summary["faults"] == []
