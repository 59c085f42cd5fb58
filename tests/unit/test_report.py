"""Unit tests for the run outputs: timeseries.csv, junit.xml, report.html and write_outputs."""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from stresslab.judgement.summary_model import load_summary
from stresslab.measurement.metrics import ERROR_CLASSES
from stresslab.outputs.charts import ChartBand, ChartLine, downsample, nice_ticks, render_line_chart
from stresslab.outputs.checks import reconcile_counts
from stresslab.outputs.format import format_clock
from stresslab.outputs.junit import render_junit_xml
from stresslab.outputs.report import render_report_html, write_outputs
from stresslab.outputs.report_charts import MAX_CHART_POINTS
from stresslab.outputs.timeseries_csv import render_timeseries_csv

FAULT_START, FAULT_END = 30, 60


def _row(second: int) -> dict[str, Any]:
    in_fault = FAULT_START <= second < FAULT_END
    errors_5xx = 3 if in_fault else 0
    errors_429 = 1 if second % 10 == 0 else 0
    errors = errors_5xx + errors_429
    timeouts = 2 if in_fault else 0
    sent = 1000
    return {
        "second": second,
        "target_tps": 1000.0,
        "scheduled": sent,
        "sent": sent,
        "ok": sent - errors - timeouts,
        "errors": errors,
        "timeouts": timeouts,
        "dropped": 0,
        "errors_by_class": {"connect": 0, "http_4xx": 0, "http_429": errors_429,
                            "http_5xx": errors_5xx, "other": 0},
        "p50_ms": 2.5 + (200.0 if in_fault else 0.0),
        "p95_ms": 6.0 + (230.0 if in_fault else 0.0),
        "p99_ms": 11.0 + (260.0 if in_fault else 0.0),
        "max_ms": 40.0 + (300.0 if in_fault else 0.0),
        "lag_p99_ms": 0.5,
        "labelled": sent - errors - timeouts,
        "accuracy": None if second == 5 else (0.88 if in_fault else 0.93),
        "fraud_prevented_usd": 120.5,
        "active_workers": 2,
        "faults": ["latency:geographic_risk"] if in_fault else [],
    }


def _series(seconds: int = 120) -> list[dict[str, Any]]:
    return [_row(second) for second in range(seconds)]


def _summary(series: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(int(row[key]) for row in series)

    by_class = {name: sum(row["errors_by_class"][name] for row in series)
                for name in ("connect", "http_4xx", "http_429", "http_5xx", "other")}
    return {
        "schema": "stresslab.summary/v1",
        "run_id": "r-20261127-111000-ab12",
        "scenario": "smoke",
        "description": "Two minutes at 1,000 TPS with a latency fault on geographic_risk.",
        "target": "http://127.0.0.1:8088/v1/score",
        "started_at": "2026-11-27T11:10:00Z",
        "ended_at": "2026-11-27T11:12:00Z",
        "duration_s": float(len(series)),
        "time_scale": 1.0,
        "load_scale": 1.0,
        "seed": 42,
        "workers": 2,
        "status": "completed",
        "load": {"target_tps_avg": 1000.0, "achieved_tps_avg": 998.7, "peak_tps": 1012.0,
                 "rate_error_pct": -0.13},
        "counts": {
            "scheduled": total("scheduled"), "sent": total("sent"), "ok": total("ok"),
            "errors": total("errors"), "timeouts": total("timeouts"),
            "dropped": total("dropped"), "target_received": total("sent"),
            "errors_by_class": by_class,
        },
        "latency_ms": {"avg": 3.1, "p50": 2.5, "p95": 6.0, "p99": 11.2, "max": 340.0},
        "schedule_lag_ms": {"p50": 0.2, "p99": 1.1, "max": 5.0},
        "accuracy": {
            "labelled": 119000, "accuracy": 0.93, "precision": 0.8, "recall": 0.7,
            "false_positive_rate": 0.02, "tp": 100, "fp": 10, "tn": 800, "fn": 20,
            "by_pattern": {
                "card_testing": {"seen": 120, "flagged": 100, "detection_rate": 0.83},
                "normal": {"seen": 810, "flagged": 10, "detection_rate": 0.012},
            },
        },
        "decisions": {"approve": 800, "review": 60, "block": 70},
        "business": {
            "fraud_detected": 100, "fraud_prevented_amount": 12345.67,
            "fraud_missed_amount": 100.0, "false_positive_amount": 50.0, "currency": "USD",
            "cost_per_transaction": 0.00042, "total_cost": 8.4, "roi_pct": 1200.0,
            "pricing_source": "bedrock list prices 2026-11",
        },
        "agents": {
            "transaction_analysis": {"calls": 120000, "avg_ms": 2.0, "p95_ms": 4.0, "errors": 0},
            "geographic_risk": {"calls": 120000, "avg_ms": 52.0, "p95_ms": 230.0, "errors": 3},
        },
        "faults": [{"type": "latency", "target": "geographic_risk", "start_s": float(FAULT_START),
                    "end_s": float(FAULT_END), "intensity": 200, "number": 1,
                    "status": "cleared", "timing": "observed", "time_to_detect_s": 1.0,
                    "time_to_recover_s": 0.0, "detected_at_s": float(FAULT_START + 1),
                    "recovered_at_s": float(FAULT_END), "affected": 150, "lost": 0,
                    "dropped": 0, "error_budget_spent_pct": 125.0, "accuracy_before": 0.93,
                    "accuracy_during": 0.88, "accuracy_after": 0.93,
                    "baseline": {"seconds": 29, "error_rate": 0.0003, "p95_ms": 6.0},
                    "criteria": [], "passed": True}],
        "workers_report": {"expected": 2, "finished": 2, "failed": []},
        "criteria": [
            {"expr": "p95_ms < 2000", "window": "run", "passed": True, "observed": 6.0},
            {"expr": "error_rate < 0.01", "window": "phase sustain", "passed": True,
             "observed": 0.0015},
            {"expr": "p99_ms < 100", "window": "30s-60s", "passed": False, "observed": 271.0},
        ],
        "passed": False,
    }


@pytest.fixture
def series() -> list[dict[str, Any]]:
    return _series()


@pytest.fixture
def summary(series: list[dict[str, Any]]) -> dict[str, Any]:
    return _summary(series)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _cases(xml_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml_text)
    return {case.get("name", ""): case for case in root.iter("testcase")}


# --------------------------------------------------------------------------- CSV


def test_csv_has_header_and_one_row_per_second(series: list[dict[str, Any]]) -> None:
    # When
    text = render_timeseries_csv(series)

    # Then
    header = next(csv.reader(io.StringIO(text)))
    assert header[:8] == ["second", "target_tps", "scheduled", "sent", "ok", "errors",
                          "timeouts", "dropped"]
    assert header[8:15] == ["err_connect", "err_http_4xx", "err_http_429", "err_http_5xx",
                            "err_invalid_response", "err_oversized", "err_other"]
    assert "errors_by_class" not in header
    assert header[-1] == "faults"
    assert len(_csv_rows(text)) == 120


def test_csv_flattens_errors_and_faults_and_blanks_nulls(series: list[dict[str, Any]]) -> None:
    # Given a second with two faults and a second with unknown accuracy
    series[40]["faults"] = ["latency:geographic_risk", "error:merchant_risk"]

    # When
    rows = _csv_rows(render_timeseries_csv(series))

    # Then
    assert rows[40]["err_http_5xx"] == "3"
    assert rows[40]["err_http_429"] == "1"
    assert rows[40]["faults"] == "latency:geographic_risk;error:merchant_risk"
    assert rows[40]["p95_ms"] == "236.0"
    assert rows[0]["faults"] == ""
    assert rows[5]["accuracy"] == ""
    assert rows[6]["accuracy"] == "0.93"


def test_csv_keeps_unknown_error_classes_and_missing_breakdown(
    series: list[dict[str, Any]],
) -> None:
    # Given
    series[1]["errors_by_class"]["tls"] = 4
    series[2]["errors_by_class"] = None

    # When
    rows = _csv_rows(render_timeseries_csv(series))

    # Then
    assert rows[1]["err_tls"] == "4"
    assert rows[0]["err_tls"] == ""
    assert rows[2]["err_connect"] == ""


def test_csv_and_errors_chart_know_every_error_class_the_workers_measure(
    series: list[dict[str, Any]], summary: dict[str, Any]
) -> None:
    # Given answers the target sent that were not valid (measured as invalid_response)
    for row in series[50:53]:
        row["errors_by_class"]["invalid_response"] = 2
    # When
    header = next(csv.reader(io.StringIO(render_timeseries_csv(series))))
    page = render_report_html(summary, series)
    # Then the class has its own column in the measured order, before any unknown class
    assert header.index("err_invalid_response") == header.index("err_http_5xx") + 1
    assert set(header) >= {f"err_{name}" for name in ERROR_CLASSES}
    # And the errors chart draws it
    errors_svg = _svgs(page)[2]
    assert "<title>invalid_response</title>" in errors_svg
    assert 'stroke="#a21caf"' in errors_svg  # its own colour, not one lent to unknown classes


def test_csv_of_empty_series_is_header_only() -> None:
    text = render_timeseries_csv([])

    assert text.count("\n") == 1
    assert text.startswith("second,")


# --------------------------------------------------------------------------- JUnit


def test_junit_has_a_case_per_criterion_plus_reconcile(summary: dict[str, Any]) -> None:
    # When
    root = ET.fromstring(render_junit_xml(summary))

    # Then
    assert root.tag == "testsuite"
    assert root.get("name") == "stresslab.smoke"
    cases = list(root.iter("testcase"))
    assert len(cases) == len(summary["criteria"]) + 3  # a case per fault too
    assert {case.get("classname") for case in cases} == {"stresslab.smoke"}
    assert root.get("tests") == str(len(cases))
    assert root.get("failures") == "1"
    assert root.get("time") == "120.000"


def test_junit_marks_failed_criteria_only(summary: dict[str, Any]) -> None:
    cases = _cases(render_junit_xml(summary))

    assert cases["p95_ms < 2000 [run]"].find("failure") is None
    assert cases["error_rate < 0.01 [phase sustain]"].find("failure") is None
    failure = cases["p99_ms < 100 [30s-60s]"].find("failure")
    assert failure is not None
    assert failure.get("message") == "observed 271, expected p99_ms < 100"
    assert cases["counts reconcile"].find("failure") is None
    assert cases["run completed"].find("failure") is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sent": 1}, "scheduled = sent + dropped"),
        ({"ok": 1}, "sent = ok + errors + timeouts"),
        ({"target_received": 5}, "target_received = sent"),
        ({"scheduled": None}, "scheduled = sent + dropped"),
    ],
)
def test_junit_reconcile_fails_on_inconsistent_counts(
    summary: dict[str, Any], change: dict[str, Any], expected: str
) -> None:
    # Given
    summary["counts"].update(change)

    # When
    failure = _cases(render_junit_xml(summary))["counts reconcile"].find("failure")

    # Then
    assert failure is not None
    assert expected in (failure.text or "")


def test_junit_reconcile_tolerates_unknown_target_received(summary: dict[str, Any]) -> None:
    summary["counts"]["target_received"] = None

    assert _cases(render_junit_xml(summary))["counts reconcile"].find("failure") is None


def test_junit_fails_aborted_run_and_escapes_names(summary: dict[str, Any]) -> None:
    # Given
    summary["status"] = "aborted"
    summary["scenario"] = 'a<b>&"c"\x01'
    summary["criteria"] = [{"expr": "p95_ms < 5 & ok", "window": None, "passed": None,
                            "observed": None}]

    # When
    root = ET.fromstring(render_junit_xml(summary))

    # Then
    assert root.get("name") == 'stresslab.a<b>&"c"\ufffd'
    cases = {case.get("name"): case for case in root.iter("testcase")}
    criterion = cases["p95_ms < 5 & ok [run]"].find("failure")
    assert criterion is not None
    assert criterion.get("message") == "observed n/a, expected p95_ms < 5 & ok"
    run = cases["run completed"].find("failure")
    assert run is not None and run.get("message") == "run status is aborted"


def test_reconcile_counts_reports_unknown_terms_as_not_checked() -> None:
    checks = reconcile_counts({"scheduled": 10, "sent": 10, "ok": 10, "errors": 0,
                               "timeouts": 0, "dropped": 0, "target_received": None})

    assert [check.passed for check in checks] == [True, True, None, None]


# --------------------------------------------------------------------------- HTML


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)


def test_html_has_four_charts_with_fault_bands(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    # When
    page = render_report_html(summary, series)

    # Then
    svgs = _svgs(page)
    assert len(svgs) == 4
    for svg in svgs:
        assert 'class="fault-band"' in svg
        assert "latency: geographic_risk" in svg
        assert "<polyline" in svg
        assert "00:30" in svg and "01:00" in svg


def test_html_contains_verdict_key_numbers_and_tables(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    page = render_report_html(summary, series)

    assert 'class="verdict failed"' in page
    assert "2 of 3 criteria passed" in page
    assert "USD 12,345.67" in page
    assert "USD 0.00042" in page
    assert "998.7" in page
    assert "scheduled = sent + dropped" in page
    assert "card_testing" in page
    assert "geographic_risk" in page
    assert "✓" in page
    assert "Confusion matrix" in page


def test_html_verdict_passed_and_aborted(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    summary["passed"] = True
    assert 'class="verdict passed"' in render_report_html(summary, series)

    summary["status"] = "aborted"
    assert 'class="verdict aborted"' in render_report_html(summary, series)


def test_html_is_self_contained(summary: dict[str, Any], series: list[dict[str, Any]]) -> None:
    # When
    page = render_report_html(summary, series)

    # Then nothing is fetched and no URL appears except the escaped target text
    assert "src=" not in page
    assert "href=" not in page
    assert "url(" not in page
    assert "@import" not in page
    assert "<script" not in page.lower()
    without_target = page.replace(html.escape(summary["target"]), "")
    assert "http://" not in without_target
    assert "https://" not in without_target


def test_html_escapes_user_strings(summary: dict[str, Any], series: list[dict[str, Any]]) -> None:
    # Given
    summary["scenario"] = "<script>alert(1)</script>"
    summary["description"] = '<img src="x" onerror="alert(2)">'
    summary["faults"][0]["target"] = "<b>agent</b>"
    summary["criteria"][0]["expr"] = "p95 <script>"

    # When
    page = render_report_html(summary, series)

    # Then
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>agent</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_handles_empty_series(summary: dict[str, Any]) -> None:
    page = render_report_html(summary, [])

    svgs = _svgs(page)
    assert len(svgs) == 4
    assert all("no data" in svg for svg in svgs)
    assert all('class="fault-band"' in svg for svg in svgs)


def test_html_handles_one_row_series(summary: dict[str, Any]) -> None:
    page = render_report_html(summary, _series(1))

    svgs = _svgs(page)
    assert len(svgs) == 4
    assert "<circle" in svgs[0]
    drawn = "".join(svgs).lower()
    assert "nan" not in drawn
    assert "inf" not in drawn


def test_html_renders_nulls_as_na(summary: dict[str, Any], series: list[dict[str, Any]]) -> None:
    # Given a foreign target: no labels, no agents, no faults, unknown receipts
    summary["accuracy"] = None
    summary["agents"] = {}
    summary["faults"] = []
    summary["business"] = None
    summary["counts"]["target_received"] = None
    summary["latency_ms"]["p99"] = None
    for row in series:
        row["accuracy"] = None

    # When
    page = render_report_html(summary, series)

    # Then
    assert "n/a" in page
    assert "No labelled decisions" in page
    assert "no per-agent timings" in page
    assert "No faults were injected" in page
    assert 'class="fault-band"' not in page
    assert "no data" in _svgs(page)[3]


def test_html_downsamples_long_runs(summary: dict[str, Any]) -> None:
    # Given a two-hour run
    long_series = _series(7200)
    summary["duration_s"] = 7200.0

    # When
    page = render_report_html(summary, long_series)

    # Then
    assert len(page) < 600_000
    for points in re.findall(r'points="([^"]*)"', page):
        assert len(points.split()) <= MAX_CHART_POINTS
    assert "each point summarises 8 s" in page
    assert "1:00:00" in page


# --------------------------------------------------------------------------- chart helpers


def test_nice_ticks_cover_range_with_round_steps() -> None:
    assert nice_ticks(0, 1012) == [0, 250, 500, 750, 1000, 1250]
    assert nice_ticks(0.88, 1.0) == [0.875, 0.9, 0.925, 0.95, 0.975, 1.0]
    assert nice_ticks(0.9, 1.0) == [0.9, 0.92, 0.94, 0.96, 0.98, 1.0]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_format_clock() -> None:
    assert format_clock(0) == "00:00"
    assert format_clock(75) == "01:15"
    assert format_clock(3725) == "1:02:05"


def test_downsample_by_mean_and_max() -> None:
    points: list[tuple[float, float | None]] = [(0, 1.0), (1, 3.0), (2, None), (3, None)]

    assert downsample(points, 2) == [(0.5, 2.0), (2.5, None)]
    assert downsample(points, 2, "max") == [(0.5, 3.0), (2.5, None)]
    assert downsample(points, 1) == points


def test_line_chart_breaks_lines_at_nulls_and_draws_legend() -> None:
    svg = render_line_chart(
        [ChartLine("a & b", "#000", [(0, 1.0), (1, 2.0), (2, None), (3, 2.0), (4, 3.0)])],
        title="t",
        bands=[ChartBand(1, 2, "fault <x>")],
    )

    assert svg.count("<polyline") == 2
    assert "a &amp; b" in svg
    assert "fault &lt;x&gt;" in svg
    assert "fault window" in svg


def test_line_chart_log_scale_skips_non_positive_values() -> None:
    svg = render_line_chart([ChartLine("p99", "#000", [(0, 0.0), (1, 2.0), (2, 400.0)])],
                            title="t", log_y=True)

    assert svg.count("<polyline") == 1
    assert ">1k<" in svg


# --------------------------------------------------------------------------- files


def test_write_outputs_writes_four_files(
    tmp_path: Path, summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    # Given
    out_dir = tmp_path / "runs" / "r-1"
    original = copy.deepcopy(summary)

    # When
    paths = write_outputs(out_dir, summary, series)

    # Then
    assert set(paths) == {"summary", "timeseries", "report", "junit"}
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "junit.xml", "report.html", "summary.json", "timeseries.csv"]
    assert json.loads(paths["summary"].read_text(encoding="utf-8")) == original
    assert len(_csv_rows(paths["timeseries"].read_text(encoding="utf-8"))) == 120
    ET.parse(paths["junit"])
    assert paths["report"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert summary == original


# --------------------------------------------------------------------------- faults


def _labelled_faults(summary: dict[str, Any]) -> None:
    summary["faults"][0]["label"] = "Network latency spike"
    failed = copy.deepcopy(summary["faults"][0])
    failed.update(number=2, label="Lambda crash", start_s=80.0, end_s=90.0, detected_at_s=81.0,
                  time_to_recover_s=None, recovered_at_s=None, lost=3, passed=False,
                  criteria=[{"expr": "error_rate < 0.05", "window": "fault 2 (Lambda crash)",
                             "passed": False, "observed": 0.3}])
    skipped = {"type": "throttle", "label": "Throttling", "number": 3, "start_s": None,
               "end_s": None, "status": "failed: refused", "passed": None, "criteria": []}
    summary["faults"] += [failed, skipped]


def test_junit_has_a_case_per_fault(summary: dict[str, Any]) -> None:
    _labelled_faults(summary)
    root = ET.fromstring(render_junit_xml(summary))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["fault 1 (Network latency spike) recovers"].find("failure") is None
    failure = cases["fault 2 (Lambda crash) recovers"].find("failure")
    assert failure is not None
    assert failure.get("message") == ("never recovered; 3 lost; "
                                      "error_rate < 0.05 [fault 2 (Lambda crash)]")
    skipped = cases["fault 3 (Throttling) recovers"].find("skipped")
    assert skipped is not None and "failed: refused" in (skipped.get("message") or "")
    assert root.get("skipped") == "1" and root.get("failures") == "2"


def test_junit_leaves_out_faults_without_measurements(summary: dict[str, Any]) -> None:
    del summary["faults"][0]["passed"]
    assert len(list(ET.fromstring(render_junit_xml(summary)).iter("testcase"))) == 5


def test_html_marks_detection_and_recovery_and_tabulates_each_fault(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    _labelled_faults(summary)
    page = render_report_html(summary, series)
    for svg in _svgs(page):
        assert svg.count('class="marker detected"') == 2
        assert svg.count('class="marker recovered"') == 1
        assert "1 · Network latency spike" in svg and "2 · Lambda crash" in svg
    assert "1 of 3 faults passed" in page
    table = re.search(r'<table class="faults">.*?</table>', page, flags=re.DOTALL)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0), flags=re.DOTALL)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in rows[1:]]
    assert cells[0][:9] == ["1 · Network latency spike", "latency · geographic_risk · 200",
                            "00:30–01:00", "1 s", "0 s", "150", "0", "125%",
                            "93.00% / 88.00% / 93.00%"]
    assert cells[1][4] == "never" and "FAIL" in cells[1][10]
    assert "not injected" in cells[2][10] and cells[2][3] == "n/a"
    assert "Baselines" in page and "29 s, errors 0.03%, p95 6 ms" in page


def test_html_shows_planned_fault_windows_from_aws(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    summary["faults"] = [{"type": "latency", "label": "L", "planned_start_s": 10.0,
                          "planned_end_s": 20.0, "status": "scheduled with AWS FIS"}]
    page = render_report_html(summary, series)
    assert all('class="fault-band"' in svg for svg in _svgs(page))
    assert "not measured" in page


# -- hostile strings: everything from outside is escaped, wherever it is drawn ----------------

HOSTILE = '"><img src=x onerror=window.__pwned=1>'
HOSTILE_NAME_KEYS = ("agents", "decisions", "by_pattern", "errors_by_class")


def _poison(value: Any) -> Any:
    """Every string leaf replaced by markup; every name-keyed mapping gains a markup name."""
    if isinstance(value, str):
        return f"{HOSTILE} {value}"
    if isinstance(value, list):
        return [_poison(item) for item in value]
    if isinstance(value, dict):
        poisoned = {key: _poison(item) for key, item in value.items()}
        for key in HOSTILE_NAME_KEYS:
            inner = poisoned.get(key)
            if isinstance(inner, dict) and inner:
                sample = next(iter(inner.values()))
                inner[HOSTILE] = copy.deepcopy(sample)
        return poisoned
    return value


def _assert_no_raw_markup(page: str) -> None:
    # html.escape and Jinja2's autoescape spell quotes differently (&quot;/&#34;, &#x27;/&#39;)
    escaped = {html.escape(HOSTILE, quote=True), str(markupsafe.escape(HOSTILE))}
    assert "<img" not in page
    assert any(form in page for form in escaped)
    for form in escaped:
        page = page.replace(form, "")
    assert "onerror=window" not in page


def test_html_escapes_every_string_from_outside(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    # Given a summary and series where every string and every agent/decision/pattern/error
    # name carries markup (as a target, a scenario file or a fault label could)
    summary["notes"] = ["a note"]
    hostile_summary, hostile_series = _poison(summary), _poison(series)
    # When the report is rendered
    page = render_report_html(hostile_summary, hostile_series)
    # Then no markup from outside survives, in tables, headings, charts and legends alike
    _assert_no_raw_markup(page)


def test_capacity_html_escapes_every_string_from_outside() -> None:
    from stresslab.outputs.capacity_report import render_capacity_html
    from tests.unit.test_capacity import report_for, threshold

    report = report_for(threshold(2700))
    report["notes"] = ["a note"]
    page = render_capacity_html(_poison(report))
    _assert_no_raw_markup(page)


def test_html_lists_the_summary_notes_escaped(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    # Given a run with notes (e.g. the target's answers hit a bound)
    summary["notes"] = ["120 agent reports beyond the first 16 agent names counted as 'other'",
                        "<b>fault</b> could not be cleared for 4 s"]
    # When the report is rendered
    page = render_report_html(summary, series)
    # Then each note is on the page, as text
    notes = re.search(r"<h2>Notes</h2><ul>(.*?)</ul>", page)
    assert notes is not None
    items = re.findall(r"<li>(.*?)</li>", notes.group(1))
    assert [html.unescape(item) for item in items] == summary["notes"]
    assert "&lt;b&gt;fault&lt;/b&gt; could not be cleared for 4 s" in items


def test_footer_names_the_summary_format_when_the_summary_does_not(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    # Given a summary without its schema field (an older or hand-made file)
    del summary["schema"]
    # Then the footer names the wire format, not a Python module
    page = render_report_html(summary, series)
    assert "<footer>stresslab.summary · 120 per-second rows" in page


def test_html_without_notes_has_no_notes_card(
    summary: dict[str, Any], series: list[dict[str, Any]]
) -> None:
    summary["notes"] = []
    assert ">Notes<" not in render_report_html(summary, series)


def test_csv_cells_from_outside_cannot_become_spreadsheet_formulas(
    series: list[dict[str, Any]]
) -> None:
    # Given a fault whose target (from a scenario file) reads like a formula
    series[0]["faults"] = ['=HYPERLINK("http://evil/","x")']
    series[1]["faults"] = ["@SUM(A1)", "latency:all"]
    rows = _csv_rows(render_timeseries_csv(series))
    # Then the cells are text, not formulas, and ordinary values are untouched
    assert rows[0]["faults"] == "'=HYPERLINK(\"http://evil/\",\"x\")"
    assert rows[1]["faults"] == "'@SUM(A1);latency:all"
    assert rows[2]["sent"] == str(series[2]["sent"])


def test_undelivered_requests_are_taken_off_what_the_target_must_have_received(
    summary: dict[str, Any]
) -> None:
    # Given 3 requests that timed out waiting for a connection, never written
    counts = summary["counts"]
    counts.update(undelivered=3, target_received=counts["sent"] - 3)
    # When the counts are checked, Then the target's own count reconciles with sent - undelivered
    assert _cases(render_junit_xml(summary))["counts reconcile"].find("failure") is None
    # And a target that counted them anyway would not
    counts["target_received"] = counts["sent"]
    assert _cases(render_junit_xml(summary))["counts reconcile"].find("failure") is not None


@pytest.mark.parametrize("run", ["local", "aws", "plain"])
def test_a_typed_run_summary_writes_the_same_outputs_as_its_json(
    tmp_path: Path, series: list[dict[str, Any]], run: str
) -> None:
    # Given a run's summary.json and the RunSummary read from it
    text = (Path(__file__).parent / "summary_golden" / f"{run}.json").read_text()
    model = load_summary(Path(__file__).parent / "summary_golden" / f"{run}.json")
    # When the outputs are written from each
    from_model = write_outputs(tmp_path / "model", model, series)
    from_json = write_outputs(tmp_path / "json", json.loads(text), series)
    # Then the four files are the same, and summary.json is the file it was read from
    for name, path in from_model.items():
        assert path.read_bytes() == from_json[name].read_bytes(), name
    assert from_model["summary"].read_text() == text
