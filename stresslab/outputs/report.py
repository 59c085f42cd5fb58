"""report.html: the sections of one run's report as data, rendered by templates/report.html.j2;
and write_outputs, which writes a run's four files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresslab.outputs.checks import (
    criterion_name,
    fault_why,
    reconcile_counts,
    reconcile_failures,
)
from stresslab.outputs.format import (
    NA,
    finite,
    format_clock,
    format_clock_or_na,
    format_money,
    format_number,
    format_percent,
    format_signed_percent,
    format_unit,
    whole,
)
from stresslab.outputs.junit import render_junit_xml
from stresslab.outputs.reading import SummaryLike, records, section, summary_dict
from stresslab.outputs.rendering import Tag, render
from stresslab.outputs.report_charts import fault_name, fault_start_end, run_charts
from stresslab.outputs.timeseries_csv import render_timeseries_csv
from stresslab.targets.identity import identify_target

KeyValues = list[tuple[str, Any]]

FAULTS_CAPTION = (
    "Detected: from the fault's start to the end of the first second outside its baseline "
    "(error rate above baseline + tolerance, or p95 above baseline × (1 + tolerance)). "
    "Recovered: from its end until the run stays within the baseline for consecutive "
    "seconds. Affected: errors and timeouts from its start until it recovered. Lost: sent "
    "but never answered. Error budget: affected against the run's allowed errors. A fault "
    "passes when it recovered, lost nothing and met its own criteria."
)
_FAULT_HEADERS = ("Fault", "Type · target · intensity", "Window", "Detected after",
                  "Recovered after", "Affected", "Lost", "Error budget spent",
                  "Accuracy before / during / after", "Own criteria", "Verdict", "Why")


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    css: str = ""


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    detail: str


def _mark(passed: bool | None) -> Tag:
    if passed is None:
        return Tag("mark na", "n/a")
    return Tag("mark ok", "✓") if passed else Tag("mark bad", "✗")


def _badge(passed: Any) -> Tag:
    if passed is True:
        return Tag("badge pass", "PASS")
    if passed is False:
        return Tag("badge fail", "FAIL")
    return Tag("badge na", "n/a")


# --------------------------------------------------------------------------- head of the page


def _header(summary: Mapping[str, Any]) -> dict[str, Any]:
    duration = finite(summary.get("duration_s"))
    duration_text = NA if duration is None else \
        f"{format_number(duration)} s ({format_clock(duration)})"
    meta = [
        ("Run ID", summary.get("run_id")), ("Target", summary.get("target")),
        ("Started", summary.get("started_at")), ("Ended", summary.get("ended_at")),
        ("Duration", duration_text),
        ("Time scale", format_number(summary.get("time_scale"))),
        ("Load scale", format_number(summary.get("load_scale"))),
        ("Seed", summary.get("seed")), ("Workers", summary.get("workers")),
        ("Status", summary.get("status")),
    ]
    system = section(summary, "system_under_test")
    return {"scenario": summary.get("scenario") or "unnamed scenario",
            "description": summary.get("description"),
            "system": system.get("label") or identify_target(str(summary.get("target"))).label,
            "meta": [(key, NA if value is None else value) for key, value in meta]}


def _verdict(summary: Mapping[str, Any]) -> dict[str, str]:
    criteria = records(summary, "criteria")
    passed_count = sum(1 for c in criteria if c.get("passed") is True)
    status = summary.get("status")
    if status == "aborted":
        word, css = "ABORTED", "aborted"
    elif summary.get("passed") is True and status == "completed":
        word, css = "PASSED", "passed"
    else:
        word, css = "FAILED", "failed"
    problems = reconcile_failures(reconcile_counts(section(summary, "counts")))
    notes = [f"{passed_count} of {len(criteria)} criteria passed", f"status: {status or NA}"]
    failed = [criterion_name(c) for c in criteria if c.get("passed") is False]
    if failed:
        notes.append("failed: " + ", ".join(failed[:3]) + (" …" if len(failed) > 3 else ""))
    faults = [f for f in records(summary, "faults") if "passed" in f]
    if faults:
        recovered = sum(1 for f in faults if f.get("passed") is True)
        notes.insert(1, f"{recovered} of {len(faults)} faults passed")
    if problems:
        notes.append("counts do not reconcile")
    return {"word": word, "css": css, "detail": " · ".join(notes)}


def _error_rate(counts: Mapping[str, Any]) -> float | None:
    sent = finite(counts.get("sent"))
    errors, timeouts = finite(counts.get("errors")), finite(counts.get("timeouts"))
    if not sent or errors is None:
        return None
    return (errors + (timeouts or 0.0)) / sent


def _key_numbers(summary: Mapping[str, Any]) -> list[Kpi]:
    load, counts = section(summary, "load"), section(summary, "counts")
    latency, accuracy = section(summary, "latency_ms"), section(summary, "accuracy")
    business = section(summary, "business")
    currency = str(business.get("currency") or "")
    return [
        Kpi("Achieved TPS", format_number(load.get("achieved_tps_avg")),
            f"target {format_number(load.get('target_tps_avg'))} · peak "
            f"{format_number(load.get('peak_tps'))} · rate error "
            f"{format_signed_percent(load.get('rate_error_pct'))}"),
        Kpi("Latency p95", format_unit(latency.get("p95"), "ms"),
            f"p50 {format_unit(latency.get('p50'), 'ms')} · p99 "
            f"{format_unit(latency.get('p99'), 'ms')} · max "
            f"{format_unit(latency.get('max'), 'ms')}"),
        Kpi("Error rate", format_percent(_error_rate(counts)),
            f"{format_number(counts.get('errors'))} errors · "
            f"{format_number(counts.get('timeouts'))} timeouts"),
        Kpi("Dropped", format_number(counts.get("dropped")),
            f"of {format_number(counts.get('scheduled'))} scheduled"),
        Kpi("Accuracy", format_percent(accuracy.get("accuracy")),
            f"precision {format_percent(accuracy.get('precision'))} · recall "
            f"{format_percent(accuracy.get('recall'))}"),
        Kpi("Fraud prevented", format_money(business.get("fraud_prevented_amount"), currency),
            f"missed {format_money(business.get('fraud_missed_amount'), currency)}"),
        Kpi(f"Cost per transaction{_modelled(business)}",
            format_money(business.get("cost_per_transaction"), currency, unit_cost=True),
            f"total {format_money(business.get('total_cost'), currency)} · ROI "
            f"{format_signed_percent(business.get('roi_pct'))}"),
    ]


# --------------------------------------------------------------------------- faults


def _fault_verdict(fault: Mapping[str, Any]) -> Tag:
    if "passed" not in fault:
        return Tag("badge na", "not measured")
    if fault.get("passed") is None:
        return Tag("badge na", "not injected")
    return _badge(fault.get("passed"))


def _fault_row(fault: Mapping[str, Any], index: int) -> list[Any]:
    detect, recover = fault.get("time_to_detect_s"), fault.get("time_to_recover_s")
    target = f"{fault.get('type') or NA} · {fault.get('target') or 'all'}"
    if fault.get("intensity") is not None:
        target += f" · {format_number(fault.get('intensity'))}"
    start, end = fault_start_end(fault)
    window = f"{format_clock_or_na(start)}–{format_clock_or_na(end)}"
    if fault.get("timing") == "planned":
        window += " (planned)"
    accuracy = " / ".join(format_percent(fault.get(f"accuracy_{when}"))
                          for when in ("before", "during", "after"))
    budget = fault.get("error_budget_spent_pct")
    criteria = records(fault, "criteria")
    met = sum(1 for c in criteria if c.get("passed") is True)
    measured = fault.get("passed") is not None
    return [
        fault_name(fault, index), target, window,
        "not breached" if measured and detect is None else format_unit(detect, "s"),
        "never" if measured and recover is None else format_unit(recover, "s"),
        format_number(fault.get("affected")), format_number(fault.get("lost")),
        NA if finite(budget) is None else f"{format_number(budget)}%", accuracy,
        f"{met} of {len(criteria)}" if criteria else "none",
        _fault_verdict(fault), fault_why(fault),
    ]


def _baseline(fault: Mapping[str, Any], index: int) -> str | None:
    base = section(fault, "baseline")
    if not base:
        return None
    seconds = whole(base.get("seconds")) or 0
    if base.get("error_rate") is not None:
        text = (f"{seconds} s, errors {format_percent(base.get('error_rate'))}, p95 "
                f"{format_unit(base.get('p95_ms'), 'ms')}")
    else:
        text = f"none ({seconds} clean s before it): judged against a clean target"
    return f"{fault_name(fault, index)}: {text}"


def _faults(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    faults = records(summary, "faults")
    if not faults:
        return None
    rows = [_fault_row(fault, index) for index, fault in enumerate(faults)]
    headers: Sequence[str] = _FAULT_HEADERS
    if not any(row[-1] for row in rows):
        headers, rows = headers[:-1], [row[:-1] for row in rows]
    baselines = [_baseline(fault, index) for index, fault in enumerate(faults)]
    return {"caption": FAULTS_CAPTION, "table": Table(headers, rows, "faults"),
            "baselines": [line for line in baselines if line]}


# --------------------------------------------------------------------------- tables


def _criteria(summary: Mapping[str, Any]) -> Table | None:
    criteria = records(summary, "criteria")
    if not criteria:
        return None
    rows = [(c.get("expr", "?"), c.get("window") or "run", format_number(c.get("observed")),
             _badge(c.get("passed"))) for c in criteria]
    return Table(("Criterion", "Window", "Observed", "Verdict"), rows)


def _counts(summary: Mapping[str, Any]) -> dict[str, Any]:
    counts = section(summary, "counts")
    rows = [(c.identity, format_number(c.left), format_number(c.right), _mark(c.passed), c.note)
            for c in reconcile_counts(counts)]
    totals: KeyValues = [(key, format_number(counts.get(key))) for key in
                         ("scheduled", "sent", "ok", "errors", "timeouts", "dropped",
                          "undelivered", "target_received")]
    by_class = section(counts, "errors_by_class")
    totals += [(f"errors: {k}", format_number(v)) for k, v in by_class.items()]
    return {"checks": Table(("Identity", "Left", "Right", "Holds", "Note"), rows),
            "totals": totals}


def _accuracy(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    accuracy = section(summary, "accuracy")
    if not accuracy:
        return None
    metrics: KeyValues = [("labelled", format_number(accuracy.get("labelled")))]
    metrics += [(key.replace("_", " "), format_percent(accuracy.get(key)))
                for key in ("accuracy", "precision", "recall", "false_positive_rate")]
    metrics += [(f"decision: {k}", format_number(v))
                for k, v in section(summary, "decisions").items()]
    get = accuracy.get
    confusion = Table(("", "flagged", "not flagged"), [
        ("actual fraud", format_number(get("tp")), format_number(get("fn"))),
        ("actual legitimate", format_number(get("fp")), format_number(get("tn"))),
    ], "confusion")
    patterns = section(accuracy, "by_pattern")
    pattern_rows = [
        (name, format_number(section(patterns, name).get("seen")),
         format_number(section(patterns, name).get("flagged")),
         format_percent(section(patterns, name).get("detection_rate")))
        for name in patterns
    ]
    by_pattern = Table(("Pattern", "Seen", "Flagged", "Flag rate"), pattern_rows) \
        if pattern_rows else None
    return {"metrics": metrics, "confusion": confusion, "by_pattern": by_pattern}


def _agents(summary: Mapping[str, Any]) -> Table | None:
    agents = section(summary, "agents")
    if not agents:
        return None
    rows = []
    for name in agents:
        agent = section(agents, name)
        rows.append((name, format_number(agent.get("calls")),
                     format_unit(agent.get("avg_ms"), "ms"), format_unit(agent.get("p95_ms"), "ms"),
                     format_number(agent.get("errors"))))
    return Table(("Agent", "Calls", "Avg", "p95", "Errors"), rows)


def _business(summary: Mapping[str, Any]) -> KeyValues | None:
    business = section(summary, "business")
    if not business:
        return None
    currency = str(business.get("currency") or "")
    return [
        ("Fraud detected (transactions)", format_number(business.get("fraud_detected"))),
        ("Fraud prevented", format_money(business.get("fraud_prevented_amount"), currency)),
        ("Fraud missed", format_money(business.get("fraud_missed_amount"), currency)),
        ("False-positive amount", format_money(business.get("false_positive_amount"), currency)),
        (f"Cost per transaction{_modelled(business)}",
         format_money(business.get("cost_per_transaction"), currency, unit_cost=True)),
        ("Total cost", format_money(business.get("total_cost"), currency)),
        ("ROI", format_signed_percent(business.get("roi_pct"))),
        ("Pricing source", business.get("pricing_source") or NA),
        ("Cost basis", business.get("cost_model") or business.get("cost_basis") or "modelled"),
    ]


def _modelled(business: Mapping[str, Any]) -> str:
    """Summaries before cost_basis priced a declared usage: modelled too."""
    return " (modelled)" if business.get("cost_basis", "modelled") == "modelled" else ""


def _workers_and_load(summary: Mapping[str, Any]) -> KeyValues:
    workers = section(summary, "workers_report")
    failed = workers.get("failed") or []
    failed_text = ", ".join(
        json.dumps(w, sort_keys=True) if isinstance(w, Mapping) else str(w) for w in failed
    ) or "none"
    lag, load = section(summary, "schedule_lag_ms"), section(summary, "load")
    return [
        ("Workers expected", format_number(workers.get("expected"))),
        ("Workers finished", format_number(workers.get("finished"))),
        ("Workers failed", failed_text),
        ("Target TPS (avg)", format_number(load.get("target_tps_avg"))),
        ("Peak TPS", format_number(load.get("peak_tps"))),
        ("Rate error", format_signed_percent(load.get("rate_error_pct"))),
        ("Schedule lag p50 / p99 / max",
         " / ".join(format_unit(lag.get(k), "ms") for k in ("p50", "p99", "max"))),
    ]


def _notes(summary: Mapping[str, Any]) -> list[Any]:
    notes = summary.get("notes")
    return notes if isinstance(notes, list) else []


# --------------------------------------------------------------------------- the page and files


def render_report_html(run_summary: SummaryLike, series: Sequence[Mapping[str, Any]]) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts, no external resources."""
    summary = summary_dict(run_summary)
    title = f"stresslab · {summary.get('scenario') or 'run'} · {summary.get('run_id') or ''}"
    return render(
        "report.html.j2",
        title=title.strip(" ·"),
        header=_header(summary),
        verdict=_verdict(summary),
        kpis=_key_numbers(summary),
        charts=run_charts(summary, series),
        faults=_faults(summary),
        criteria=_criteria(summary),
        counts=_counts(summary),
        accuracy=_accuracy(summary),
        agents=_agents(summary),
        business=_business(summary),
        workers_and_load=_workers_and_load(summary),
        notes=_notes(summary),
        schema=summary.get("schema") or "stresslab.summary",
        rows=len(series),
    )


def write_outputs(
    out_dir: Path, run_summary: SummaryLike, series: Sequence[Mapping[str, Any]]
) -> dict[str, Path]:
    """Write summary.json, timeseries.csv, report.html and junit.xml into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summary_dict(run_summary)
    contents = {
        "summary": ("summary.json", json.dumps(summary, indent=2) + "\n"),
        "timeseries": ("timeseries.csv", render_timeseries_csv(series)),
        "report": ("report.html", render_report_html(summary, series)),
        "junit": ("junit.xml", render_junit_xml(summary)),
    }
    paths: dict[str, Path] = {}
    for key, (name, text) in contents.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8", newline="")
        paths[key] = path
    return paths
