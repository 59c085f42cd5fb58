"""Baseline runs for the analytics page: which runs are offered, and a run's stored seconds as
the series the page draws."""

from __future__ import annotations

from typing import Any

import pytest

from stresslab.baseline_series import NotFinished, baseline_list, run_series
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.outputs.timeseries_csv import read_timeseries_csv, render_timeseries_csv
from stresslab.scenario.spec import ScenarioSpec

SPEC = ScenarioSpec.model_validate({
    "name": "smoke", "phases": [
        {"name": "warm up", "shape": "constant", "tps": 10, "duration": 2},
        {"shape": "constant", "tps": 20, "duration": 2},
    ],
}).model_dump(mode="json")


def record(run_id: str, scenario: str = "smoke", status: str = "completed",
           ended: bool = True) -> dict[str, Any]:
    return {"run_id": run_id, "scenario": scenario, "status": status,
            "started_at": f"2026-12-03T19:0{run_id[-1]}:00Z",
            "ended_at": "2026-12-03T19:30:00Z" if ended else None, "passed": True, "spec": SPEC}


def stored_rows() -> list[dict[str, Any]]:
    """Rows as the runner stores them: RunAggregator.second_row over real windows."""
    aggregator = RunAggregator("r1", [10.0, 10.0, 20.0, 20.0])
    for second, (ok, errors, timeouts) in enumerate([(10, 0, 0), (8, 1, 1), (0, 0, 0),
                                                     (19, 1, 0)]):
        stats = WindowStats()
        stats.scheduled = stats.sent = ok + errors + timeouts
        stats.ok, stats.timeouts = ok, timeouts
        if errors:
            stats.errors["http_5xx"] = errors
        for index in range(ok):
            record_us(stats.latency, 0.005 * (second + 1) + index / 10_000)
            stats.record_decision("approve", False, False, "normal", 1.0)
        aggregator.add(stats.to_batch("r1", "w0-s0", 0, 0, second, second))
    return [aggregator.second_row(second) for second in range(4)]


def test_finished_runs_are_offered_the_live_scenarios_first_newest_first():
    # Given the store's list (newest first): the live run, two smoke runs, a burst run between
    runs = [record("r5", status="running", ended=False), record("r4", "burst"), record("r3"),
            record("r2", status="aborted"), record("r1", status="running", ended=False)]
    # When the live smoke run asks for baselines
    listing = baseline_list(runs, "smoke", exclude="r5")
    # Then finished smoke runs come first, newest first, then the rest; nothing still running
    assert [b.run_id for b in listing.baselines] == ["r3", "r2", "r4"]
    assert [b.same_scenario for b in listing.baselines] == [True, True, False]
    assert listing.baselines[1].status == "aborted" and listing.scenario == "smoke"


def test_without_a_scenario_every_finished_run_is_offered_in_store_order():
    listing = baseline_list([record("r2", "burst"), record("r1")], None)
    assert [(b.run_id, b.same_scenario) for b in listing.baselines] == [
        ("r2", False), ("r1", False)]


def test_a_runs_series_is_its_stored_seconds_with_phases_and_error_rates():
    # Given a finished run and its stored seconds
    rows = stored_rows()
    # When it is read as a series
    series = run_series(record("r1"), rows)
    # Then every charted value is the stored one, second by second
    assert [s.second for s in series.seconds] == [0, 1, 2, 3]
    for point, row in zip(series.seconds, rows, strict=True):
        for key in ("target_tps", "sent", "ok", "errors", "timeouts", "dropped", "p50_ms",
                    "p95_ms", "p99_ms", "accuracy", "errors_by_class"):
            assert getattr(point, key) == row[key], key
    # And the phases are on the run's clock, named as on the live feed
    assert [(p.name, p.start_s, p.end_s) for p in series.phases] == [
        ("warm up", 0, 2), ("phase 2", 2, 4)]
    assert [s.phase for s in series.seconds] == ["warm up", "warm up", "phase 2", "phase 2"]
    assert series.duration_s == 4
    # And the error rate counts timeouts, and is unknown for a second that sent nothing
    assert [s.error_rate for s in series.seconds] == [0.0, pytest.approx(0.2), None,
                                                      pytest.approx(0.05)]
    assert series.seconds[2].p95_ms is None and series.seconds[1].errors_by_class["http_5xx"] == 1


def test_a_running_run_has_no_series_to_compare_with():
    with pytest.raises(NotFinished, match="^run_id: run r1 has not finished"):
        run_series(record("r1", status="running", ended=False), stored_rows())


def test_a_record_whose_spec_cannot_be_read_still_has_its_seconds():
    series = run_series({**record("r1"), "spec": {"name": "old", "stages": []}}, stored_rows())
    assert series.phases == [] and series.duration_s == 4
    assert [s.phase for s in series.seconds] == [None] * 4


def test_timeseries_csv_reads_back_as_the_rows_it_was_written_from():
    # Given stored rows written as timeseries.csv (what the AWS results bucket keeps)
    rows = stored_rows()
    read = read_timeseries_csv(render_timeseries_csv(rows))
    # Then the series made from it is the one made from the rows themselves
    assert run_series(record("r1"), read) == run_series(record("r1"), rows)
    assert read[2]["p95_ms"] is None and read[1]["errors_by_class"]["http_5xx"] == 1
    with pytest.raises(ValueError):
        read_timeseries_csv("second,ok\n0,lots\n")
