"""--baseline and compare phase by phase: the last passing run found in the store and result
folders, the rules judged into summary.json and junit.xml, phases aligned across runs of
different lengths, agent shares and per-fault times side by side."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stresslab.cli import main
from stresslab.judgement.phases import aligned_second, phase_at, phase_figures, phase_windows
from stresslab.judgement.regression import RunFigures, compare_runs, judge_against
from stresslab.judgement.summary_model import RunSummary, load_summary
from stresslab.local.store import SqliteRunStore
from stresslab.outputs.baselines import LAST_PASS, resolve_baseline, summary_key
from stresslab.outputs.compare import compare_command
from stresslab.outputs.junit import render_junit_xml
from stresslab.scenario.regressions import parse_rule
from stresslab.targets.identity import identify_target

GOLDEN = Path(__file__).parent / "summary_golden" / "local.json"
TARGET = identify_target("http://127.0.0.1:9/score")


def _summary(**changes: object) -> RunSummary:
    data = json.loads(GOLDEN.read_text())
    data.update(changes)
    return RunSummary.model_validate(data)


def _store(db: Path, *runs: tuple[RunSummary, str], spec: dict | None = None) -> None:
    store = SqliteRunStore(db)
    for summary, status in runs:
        store.create_run(summary.run_id, summary.scenario, summary.started_at,
                         spec or {"name": summary.scenario}, {})
        store.finish_run(summary.run_id, status, summary.ended_at, summary)
    store.close()


# -- the last passing run -----------------------------------------------------------------


def test_last_pass_is_the_latest_completed_passing_run_of_that_scenario_and_target(tmp_path):
    db = tmp_path / "runs.db"
    _store(db,
           (_summary(run_id="old-pass", passed=True, started_at="2026-01-01T00:00:00Z"),
            "completed"),
           (_summary(run_id="new-pass", passed=True, started_at="2026-01-02T00:00:00Z"),
            "completed"),
           (_summary(run_id="newer-fail", passed=False, started_at="2026-01-03T00:00:00Z"),
            "completed"),
           (_summary(run_id="aborted", passed=True, started_at="2026-01-04T00:00:00Z"), "aborted"),
           (_summary(run_id="other-scenario", scenario="other", passed=True,
                     started_at="2026-01-05T00:00:00Z"), "completed"),
           (_summary(run_id="other-target", passed=True, target="http://10.0.0.1:80/",
                     system_under_test=identify_target("http://10.0.0.1:80/"),
                     started_at="2026-01-06T00:00:00Z"), "completed"))
    baseline = resolve_baseline(LAST_PASS, "golden", TARGET, db, tmp_path / "results")
    assert baseline.run is not None and baseline.run.figures.summary.run_id == "new-pass"
    assert "last passing run new-pass (run store" in baseline.note


def test_the_reference_service_is_one_target_whatever_port_it_listened_on():
    one = identify_target("http://127.0.0.1:4001/score", reference=True)
    two = identify_target("http://127.0.0.1:5002/score", reference=True)
    assert summary_key(_summary(system_under_test=one)) == summary_key(
        _summary(system_under_test=two)) == "reference"


def test_last_pass_from_a_result_folder_when_newer_than_the_store(tmp_path):
    db, results = tmp_path / "runs.db", tmp_path / "results"
    _store(db, (_summary(run_id="stored", passed=True), "completed"))
    folder = results / "kept"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(
        _summary(run_id="kept", passed=True, started_at="2026-02-01T00:00:00Z").to_json())
    (results / "junk").mkdir()
    (results / "junk" / "summary.json").write_text("{not json")
    baseline = resolve_baseline(LAST_PASS, "golden", TARGET, db, results)
    assert baseline.run is not None and baseline.run.figures.summary.run_id == "kept"


def test_no_passing_run_is_no_baseline_and_a_note_saying_so(tmp_path):
    db = tmp_path / "runs.db"
    _store(db, (_summary(run_id="failing", passed=False), "completed"))
    baseline = resolve_baseline(LAST_PASS, "golden", TARGET, db, tmp_path / "results")
    assert baseline.run is None
    assert "no passing run of 'golden'" in baseline.note and "no regression judged" in baseline.note
    check = judge_against(LAST_PASS, [parse_rule("p95_ms +10%")], None,
                          RunFigures(_summary()), baseline.note)
    assert (check.judged, check.regressed, check.rules, check.baseline_run_id) == (
        False, False, [], None)


@pytest.mark.parametrize(("asked", "problem"), [
    ("no-such-run", "'no-such-run': no such file, folder or run in"),
    ("other", "that run ran scenario 'other', not 'golden'"),
])
def test_a_named_baseline_that_cannot_be_used_is_one_line(tmp_path, asked, problem):
    db = tmp_path / "runs.db"
    _store(db, (_summary(run_id="other", scenario="other", passed=True), "completed"))
    with pytest.raises(ValueError) as error:
        resolve_baseline(asked, "golden", TARGET, db, tmp_path / "results")
    assert problem in str(error.value) and "\n" not in str(error.value)


def test_over_the_api_a_baseline_is_a_stored_run_never_a_path(tmp_path):
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "summary.json").write_text(_summary(run_id="kept").to_json())
    with pytest.raises(ValueError, match="there is no run store"):
        resolve_baseline(str(folder), "golden", TARGET, tmp_path / "runs.db", tmp_path,
                         stored_only=True)
    _store(tmp_path / "runs.db", (_summary(run_id="stored"), "completed"))
    with pytest.raises(ValueError, match="no such file, folder or run"):
        resolve_baseline(str(folder), "golden", TARGET, tmp_path / "runs.db", tmp_path,
                         stored_only=True)
    assert resolve_baseline(str(folder), "golden", TARGET, tmp_path / "runs.db",
                            tmp_path).run is not None


def test_run_with_an_unknown_baseline_is_refused_in_one_line_and_nothing_written(
        tmp_path, capsys):
    db, out = tmp_path / "runs.db", tmp_path / "out"
    _store(db, (_summary(), "completed"))
    code = main(["run", "smoke", "--baseline", "nope", "--db", str(db), "--out",
                 str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("stresslab: error: 'nope': no such file, folder or run")
    assert not out.exists()
    assert [r["run_id"] for r in SqliteRunStore(db).list_runs()] == ["r-golden"]


# -- junit.xml ------------------------------------------------------------------------------


def _judged(candidate: RunSummary) -> RunSummary:
    rules = [parse_rule("p95_ms +10%"), parse_rule("error_rate +0.05pp")]
    check = judge_against("r-golden", rules, RunFigures(_summary()), RunFigures(candidate),
                          "baseline r-golden (run store)")
    return candidate.model_copy(update={"regression": check})


def test_junit_has_a_case_per_regression_rule_and_the_failure_names_what_broke():
    base = _summary().latency_ms.model_dump()
    slower = _summary(run_id="cand", latency_ms={k: v * 1.3 for k, v in base.items()})
    suite = ET.fromstring(render_junit_xml(_judged(slower).to_json_dict()))
    cases = {c.get("name"): c for c in suite.findall("testcase")
             if c.get("classname") == "regressions"}
    assert list(cases) == ["p95_ms +10%", "error_rate +0.05pp"]
    assert cases["error_rate +0.05pp"].find("failure") is None
    message = cases["p95_ms +10%"].find("failure").get("message")
    assert message.startswith(f"p95_ms: baseline {base['p95']:,.1f}".rstrip("0"))
    assert "(run r-golden)" in message and "candidate" in message and "delta" in message
    assert "30% worse (limit 10%)" in message and message.endswith("rule p95_ms +10%")
    assert int(suite.get("failures")) == 2  # the golden run's own lost == 0, and this rule


def test_junit_skips_the_regressions_when_no_baseline_was_found_and_is_unchanged_without():
    plain = _summary()
    check = judge_against(LAST_PASS, [], None, RunFigures(plain), "no passing run found")
    xml = render_junit_xml(plain.model_copy(update={"regression": check}).to_json_dict())
    case = ET.fromstring(xml).find("testcase[@classname='regressions']")
    assert case.find("skipped").get("message") == "no passing run found"
    assert render_junit_xml(plain.to_json_dict()) == render_junit_xml(json.loads(
        GOLDEN.read_text()))


def test_the_regression_check_round_trips_through_summary_json():
    judged = _judged(_summary(run_id="cand"))
    text = judged.to_json()
    assert json.loads(text)["regression"]["rules"][0]["rule"] == "p95_ms +10%"
    assert RunSummary.model_validate_json(text).to_json() == text
    assert "regression" not in _summary().to_json_dict()


# -- phases ---------------------------------------------------------------------------------


def test_phase_windows_and_which_second_is_in_which_phase():
    windows = phase_windows([("ramp", 2.0), ("", 4.0)])
    assert [(w.name, w.start_s, w.end_s) for w in windows] == [
        ("ramp", 0, 2), ("phase 2", 2, 6)]
    assert [phase_at(windows, s) for s in (0, 1, 2, 5, 6, 9)] == [0, 0, 1, 1, 1, 1]


def test_a_half_length_run_maps_onto_the_full_one_phase_by_phase():
    full = phase_windows([("ramp", 4.0), ("hold", 6.0)])
    half = phase_windows([("ramp", 2.0), ("hold", 3.0)])
    assert aligned_second(0, half, full) == 0
    assert aligned_second(2, half, full) == 4  # hold starts together
    assert aligned_second(3.5, half, full) == 7


def _series(windows_tps: list[tuple[int, int]], p95: float = 10.0) -> list[dict]:
    rows, second = [], 0
    for seconds, tps in windows_tps:
        for _ in range(seconds):
            rows.append({"second": second, "sent": tps, "ok": tps, "errors": 0, "timeouts": 0,
                         "labelled": tps, "accuracy": 1.0, "tp": 0, "tn": tps, "p95_ms": p95})
            second += 1
    return rows


def test_runs_of_different_lengths_align_phase_by_phase_with_no_regression_from_length():
    base_summary = _summary(run_id="full")
    full, half = (phase_windows([("ramp", 4.0 * f), ("hold", 6.0 * f)]) for f in (1, 0.5))
    baseline = RunFigures(base_summary, phases=phase_figures(full, _series([(4, 20), (6, 50)])))
    candidate = RunFigures(_summary(run_id="half"),
                           phases=phase_figures(half, _series([(2, 20), (3, 50)])))
    rules = [parse_rule(r) for r in ("achieved_tps -2%", "error_rate +0.05pp")]
    comparison = compare_runs(baseline, candidate, rules)
    assert [p.name for p in comparison.phases] == ["ramp", "hold"]
    hold = {m.metric: m for m in comparison.phases[1].metrics}
    assert (hold["duration_s"].baseline, hold["duration_s"].candidate) == (6, 3)
    assert hold["achieved_tps"].baseline == hold["achieved_tps"].candidate == 50
    assert hold["error_rate"].significant is False
    assert not comparison.regressed


def test_phases_that_do_not_pair_are_said_so():
    one = RunFigures(_summary(), phases=phase_figures(phase_windows([("a", 2.0)]),
                                                      _series([(2, 5)])))
    two = RunFigures(_summary(), phases=phase_figures(phase_windows([("a", 1.0), ("b", 1.0)]),
                                                      _series([(2, 5)])))
    comparison = compare_runs(one, two)
    assert comparison.phases == [] and "have 1 and 2 phases" in comparison.phase_note


def test_compare_json_and_html_carry_per_phase_rows_from_the_store(tmp_path):
    db = tmp_path / "runs.db"
    spec_full = {"name": "golden", "phases": [{"name": "ramp", "duration": 4},
                                              {"name": "hold", "duration": 6}]}
    spec_half = {"name": "golden", "phases": [{"name": "ramp", "duration": 2},
                                              {"name": "hold", "duration": 3}]}
    _store(db, (_summary(run_id="full"), "completed"), spec=spec_full)
    _store(db, (_summary(run_id="half", started_at="2026-01-02T00:00:00Z"), "completed"),
           spec=spec_half)
    store = SqliteRunStore(db)
    store.save_seconds("full", _series([(4, 20), (6, 50)]))
    store.save_seconds("half", _series([(2, 20), (3, 50)]))
    store.close()
    code, text = compare_command("full", "half", tmp_path / "cmp", db)
    assert code == 0, text
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [p["phase"] for p in data["phases"]] == ["ramp", "hold"]
    assert data["phases"][1]["candidate"] == {"start_s": 2, "end_s": 5}
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert html.count('data-testid="phase"') == 2
    assert "phases aligned on the baseline" in html
    assert "hold at 4s (candidate 2s)" in html


def test_result_folders_compare_phase_by_phase_from_their_timeseries_csv(tmp_path):
    from stresslab.outputs.report import write_outputs

    for run_id, factor, rows in (("full", 1.0, _series([(4, 20), (6, 50)])),
                                 ("half", 0.5, _series([(2, 20), (3, 50)]))):
        summary = _summary(run_id=run_id, phases=[
            w.model_dump() for w in phase_windows([("ramp", 4 * factor), ("hold", 6 * factor)])])
        write_outputs(tmp_path / run_id, summary.to_json_dict(), rows)
    code, text = compare_command(str(tmp_path / "full"), str(tmp_path / "half"),
                                 tmp_path / "cmp", tmp_path / "none.db")
    assert code == 0, text
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    hold = {m["metric"]: m for m in data["phases"][1]["metrics"]}
    assert hold["achieved_tps"]["baseline"] == hold["achieved_tps"]["candidate"] == 50
    assert hold["accuracy"]["baseline"] == 1.0 and hold["p95_ms"]["baseline"] is None
    assert "phases aligned on the baseline" in (tmp_path / "cmp" / "compare.html").read_text()


# -- headline metrics -----------------------------------------------------------------------


def test_agent_latency_shares_and_per_fault_times_are_compared():
    summary = load_summary(GOLDEN)
    comparison = compare_runs(RunFigures(summary), RunFigures(summary))
    names = {m.metric: m for m in comparison.metrics}
    geo, velocity = names["agent_share.geo"], names["agent_share.velocity"]
    assert geo.baseline == pytest.approx(1.002 / (1.002 + 2.2021058655221744))
    assert geo.baseline + velocity.baseline == pytest.approx(1.0)
    detect = names["fault.1.agent_errors.time_to_detect_s"]
    assert (detect.baseline, detect.delta) == (0.8, 0)
    assert "fault.1.agent_errors.time_to_recover_s" in names
    assert "cost_per_transaction" in names
    assert any(name.startswith("detection.") for name in names)
