"""A local run holds only the live window's seconds in memory; the rest wait in its store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.local.store import SqliteRunStore
from stresslab.measurement.aggregate import aggregator_from_batches
from stresslab.measurement.seconds import HOT_SECONDS, SpilledSeconds
from stresslab.scenario.spec import parse_scenario

pytestmark = pytest.mark.timeout(120)


async def test_a_run_longer_than_the_live_window_holds_only_the_window(tmp_path: Path):
    # Given a 16-second run against the reference service, its held seconds counted each second
    spec = parse_scenario({"name": "held", "workers": 2, "criteria": ["lost == 0"],
                           "phases": [{"shape": "constant", "tps": 60, "duration": 16}]}, "test")
    held: list[int] = []
    run: LocalRun

    def on_second(row: dict[str, Any]) -> None:
        assert isinstance(run.aggregator.seconds, SpilledSeconds)
        held.append(run.aggregator.seconds.resident)

    run = LocalRun(LocalRunOptions(spec=spec, db_path=tmp_path / "runs.db", progress=False,
                                   on_second=on_second))
    # When it runs
    result = await run.execute()
    # Then the runner never held more than the live window, though all 16 seconds were judged
    assert result.exit_code == 0, result.summary["notes"]
    assert len(held) >= 10 and max(held) <= HOT_SECONDS + 2
    assert [row["second"] for row in result.series][:16] == list(range(16))
    # And the series equals one from an aggregator holding every second, rebuilt from the store
    store = SqliteRunStore(tmp_path / "runs.db")
    rebuilt = aggregator_from_batches(result.run_id, run.plan.expected_per_second,
                                      store.batches(result.run_id))
    for row in result.series:
        expected = rebuilt.second_row(row["second"], row["faults"])
        assert {k: v for k, v in row.items() if k != "degradation"} == expected
    assert result.summary["load"]["peak_tps"] == rebuilt.seconds.peak_sent()
    # And its cyclic garbage was swept while it ran, not left for a rare full collection
    assert run.garbage.sweeps >= 1
    store.close()
