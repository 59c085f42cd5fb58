"""stresslab compare's core: headline metrics side by side, noise tests, regression rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stresslab.cli import main
from stresslab.judgement.regression import (
    DifferentScenarios,
    Proportion,
    RunFigures,
    compare_runs,
    kolmogorov_smirnov,
    two_proportion_z,
)
from stresslab.judgement.summary_model import RunSummary
from stresslab.local.store import SqliteRunStore
from stresslab.scenario.regressions import parse_rule
from stresslab.scenario.spec import ScenarioError, parse_scenario

GOLDEN = Path(__file__).parent / "summary_golden" / "local.json"
RULES = [parse_rule(r) for r in ("p95_ms +10%", "error_rate +0.05pp", "accuracy -1pp",
                                 "achieved_tps -2%")]


def _summary(**changes: object) -> RunSummary:
    data = json.loads(GOLDEN.read_text())
    data.update(changes)
    return RunSummary.model_validate(data)


def _slower(factor: float) -> RunSummary:
    base = _summary()
    latency = {k: None if v is None else v * factor
               for k, v in base.latency_ms.model_dump().items()}
    return _summary(run_id="candidate", latency_ms=latency)


def _with_errors(share: float) -> RunSummary:
    base = _summary().to_json_dict()
    counts = dict(base["counts"])
    extra = round(counts["sent"] * share)
    counts["errors"] += extra
    counts["ok"] -= extra
    counts["errors_by_class"] = {**counts["errors_by_class"],
                                 "http_5xx": counts["errors_by_class"]["http_5xx"] + extra}
    return _summary(run_id="candidate", counts=counts)


def test_a_run_compared_with_itself_shows_no_regression_and_nothing_beyond_noise():
    run = RunFigures(_summary())
    comparison = compare_runs(run, run, RULES)
    assert not comparison.regressed
    assert [v.broken for v in comparison.rules] == [False] * 4
    assert all(m.delta in (0, None) for m in comparison.metrics)
    assert not any(m.significant for m in comparison.metrics)


def test_a_candidate_30_percent_slower_breaks_the_p95_rule_only():
    comparison = compare_runs(RunFigures(_summary()), RunFigures(_slower(1.3)), RULES)
    assert comparison.regressed
    broken = [v.rule.metric for v in comparison.rules if v.broken]
    assert broken == ["p95_ms"]
    assert comparison.metric("p95_ms").delta_pct == pytest.approx(30)


def test_a_candidate_with_2_percent_more_errors_breaks_the_error_rule_beyond_noise():
    comparison = compare_runs(RunFigures(_summary()), RunFigures(_with_errors(0.02)), RULES)
    assert [v.rule.metric for v in comparison.rules if v.broken] == ["error_rate"]
    error_rate = comparison.metric("error_rate")
    assert error_rate.delta == pytest.approx(0.02)
    assert error_rate.noise is not None and error_rate.noise.name == "two-proportion z"
    assert comparison.metric("error_rate.http_5xx").delta == pytest.approx(0.02)


def test_a_falling_rate_breaks_a_minus_rule_and_a_rise_does_not():
    faster = _summary(run_id="c", load={**_summary().load.model_dump(), "achieved_tps_avg": 40.0})
    comparison = compare_runs(RunFigures(_summary()), RunFigures(faster),
                              [parse_rule("achieved_tps -2%")])
    assert comparison.rules[0].broken  # 50 -> 40 TPS
    comparison = compare_runs(RunFigures(faster), RunFigures(_summary()),
                              [parse_rule("achieved_tps -2%")])
    assert not comparison.rules[0].broken


def test_runs_of_different_scenarios_are_refused_with_one_line():
    with pytest.raises(DifferentScenarios) as refused:
        compare_runs(RunFigures(_summary()), RunFigures(_summary(scenario="other")))
    assert "\n" not in str(refused.value) and "'other'" in str(refused.value)


def test_two_proportion_z_against_a_worked_example():
    # 45/500 against 30/500: pooled 0.075, se 0.016658; z = -0.03 / 0.016658 = -1.80
    test = two_proportion_z(Proportion(45, 500), Proportion(30, 500))
    assert test is not None
    assert test.statistic == pytest.approx(-1.8010, abs=1e-3)
    assert not test.significant
    assert two_proportion_z(Proportion(0, 0), Proportion(1, 5)) is None


def test_kolmogorov_smirnov_sees_a_shifted_distribution_and_not_an_equal_one():
    base = [(float(ms), 100) for ms in range(10, 30)]
    shifted = [(ms * 1.3, count) for ms, count in base]
    same = kolmogorov_smirnov(base, base)
    moved = kolmogorov_smirnov(base, shifted)
    assert same is not None and same.statistic == 0 and not same.significant
    assert moved is not None and moved.significant


@pytest.mark.parametrize(("rule", "problem"), [
    ("p95_ms 10%", "cannot parse regression rule 'p95_ms 10%'"),
    ("p95 +10%", "unknown metric 'p95'"),
    ("p95_ms +10pp", "'pp' only applies to rates"),
])
def test_a_bad_rule_is_one_line_naming_the_rule(rule, problem):
    spec = {"name": "x", "phases": [{"shape": "constant", "tps": 1, "duration": 1}],
            "regressions": [rule]}
    with pytest.raises(ScenarioError) as error:
        parse_scenario(spec, "x.yaml")
    assert problem in str(error.value) and "\n" not in str(error.value)


def _store_with(db: Path, *summaries: RunSummary, rules: list[str]) -> None:
    store = SqliteRunStore(db)
    spec = {"name": "golden", "regressions": rules}
    for summary in summaries:
        store.create_run(summary.run_id, summary.scenario, summary.started_at, spec, {})
        store.finish_run(summary.run_id, "completed", summary.ended_at, summary)
    store.close()


def test_cli_exit_1_and_the_broken_rule_named_when_the_candidate_is_slower(tmp_path, capsys):
    db = tmp_path / "runs.db"
    baseline = _summary()
    _store_with(db, baseline, _slower(1.3), rules=["p95_ms +10%", "error_rate +0.05pp"])
    out = tmp_path / "cmp"
    code = main(["compare", baseline.run_id, "candidate", "--db", str(db), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "BROKEN p95_ms +10%" in printed and "holds  error_rate" in printed
    data = json.loads((out / "compare.json").read_text())
    assert data["regressed"] is True
    assert [r["rule"] for r in data["rules"] if r["broken"]] == ["p95_ms +10%"]
    assert "REGRESSION" in (out / "compare.html").read_text()


def test_cli_compares_summary_files_and_refuses_other_scenarios(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b" / "summary.json"
    a.write_text(_summary().to_json())
    b.parent.mkdir()
    b.write_text(_summary(scenario="other").to_json())
    assert main(["compare", str(a), str(a), "--out", str(tmp_path / "same")]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", str(a), str(b.parent), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stresslab: error: runs of different scenarios") and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_compare_html_overlays_both_runs_tps_and_p95_from_the_stored_series(tmp_path):
    db = tmp_path / "runs.db"
    baseline, candidate = _summary(), _slower(1.3)
    _store_with(db, baseline, candidate, rules=[])
    store = SqliteRunStore(db)
    for run_id, tps in ((baseline.run_id, 50), (candidate.run_id, 40)):
        store.save_seconds(run_id, [{"second": s, "sent": tps, "p95_ms": 10.0 + s}
                                    for s in range(5)])
    store.close()
    out = tmp_path / "cmp"
    assert main(["compare", baseline.run_id, candidate.run_id, "--db", str(db), "--out",
                 str(out)]) == 0
    html = (out / "compare.html").read_text()
    tps_chart = html[html.index("achieved TPS"):]
    tps_chart = tps_chart[:tps_chart.index("</svg>")]
    assert "baseline" in tps_chart and "candidate" in tps_chart
    assert tps_chart.count("<path") + tps_chart.count("<polyline") >= 2


def test_a_pattern_seen_by_only_one_run_is_compared_not_a_key_error():
    # Given a baseline whose transactions included a pattern the candidate's never did
    data = json.loads(GOLDEN.read_text())
    only_baseline = dict(data["accuracy"]["by_pattern"])
    only_baseline["atm_cashout"] = {"seen": 4, "flagged": 3, "detection_rate": 0.75}
    baseline = _summary(accuracy={**data["accuracy"], "by_pattern": only_baseline})
    # When either is compared with the other, the pattern is a row with one side unmeasured
    for b, c in ((baseline, _summary()), (_summary(), baseline)):
        row = compare_runs(RunFigures(b), RunFigures(c)).metric("detection.atm_cashout")
        assert row.group == "detection"
        assert {row.baseline, row.candidate} == {0.75, None}
