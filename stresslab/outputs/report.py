"""report.html: the sections of one run's report as data, rendered by templates/report.html.j2;
and write_outputs, which writes a run's four files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresslab.judgement.held_rate import held_rate_sentence
from stresslab.judgement.summary_model import Business, Counts, FaultEntry, RunSummary
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
from stresslab.outputs.reading import SummaryLike, as_run_summary
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


def _header(summary: RunSummary) -> dict[str, Any]:
    duration = finite(summary.duration_s)
    duration_text = NA if duration is None else \
        f"{format_number(duration)} s ({format_clock(duration)})"
    meta = [
        ("Run ID", summary.run_id), ("Target", summary.target),
        ("Started", summary.started_at), ("Ended", summary.ended_at),
        ("Duration", duration_text),
        ("Time scale", format_number(summary.time_scale)),
        ("Load scale", format_number(summary.load_scale)),
        ("Seed", summary.seed), ("Workers", summary.workers),
        ("Status", summary.status),
    ]
    system = summary.system_under_test
    return {"scenario": summary.scenario or "unnamed scenario",
            "description": summary.description,
            "system": system.label if system is not None and system.label
            else identify_target(str(summary.target)).label,
            "meta": [(key, NA if value is None else value) for key, value in meta]}


def _verdict(summary: RunSummary) -> dict[str, str]:
    criteria = summary.criteria
    passed_count = sum(1 for c in criteria if c.passed is True)
    status = summary.status
    if status == "aborted":
        word, css = "ABORTED", "aborted"
    elif summary.passed is True and status == "completed":
        word, css = "PASSED", "passed"
    else:
        word, css = "FAILED", "failed"
    problems = reconcile_failures(reconcile_counts(summary.counts))
    notes = [f"{passed_count} of {len(criteria)} criteria passed", f"status: {status or NA}"]
    failed = [criterion_name(c) for c in criteria if c.passed is False]
    if failed:
        notes.append("failed: " + ", ".join(failed[:3]) + (" …" if len(failed) > 3 else ""))
    faults = [f for f in summary.faults if "passed" in f.model_fields_set]
    if faults:
        recovered = sum(1 for f in faults if f.passed is True)
        notes.insert(1, f"{recovered} of {len(faults)} faults passed")
    if problems:
        notes.append("counts do not reconcile")
    return {"word": word, "css": css, "detail": " · ".join(notes)}


def _error_rate(counts: Counts) -> float | None:
    sent = finite(counts.sent)
    errors, timeouts = finite(counts.errors), finite(counts.timeouts)
    if not sent or errors is None:
        return None
    return (errors + (timeouts or 0.0)) / sent


def _key_numbers(summary: RunSummary) -> list[Kpi]:
    load, counts, latency = summary.load, summary.counts, summary.latency_ms
    accuracy, business = summary.accuracy, summary.business
    currency = str(business.currency or "")
    return [
        Kpi("Achieved TPS", format_number(load.achieved_tps_avg),
            f"target {format_number(load.target_tps_avg)} · peak "
            f"{format_number(load.peak_tps)} · rate error "
            f"{format_signed_percent(load.rate_error_pct)}"),
        Kpi("Latency p95", format_unit(latency.p95, "ms"),
            f"p50 {format_unit(latency.p50, 'ms')} · p99 "
            f"{format_unit(latency.p99, 'ms')} · max "
            f"{format_unit(latency.max, 'ms')}"),
        Kpi("Error rate", format_percent(_error_rate(counts)),
            f"{format_number(counts.errors)} errors · "
            f"{format_number(counts.timeouts)} timeouts"),
        Kpi("Dropped", format_number(counts.dropped),
            f"of {format_number(counts.scheduled)} scheduled"),
        Kpi("Accuracy", format_percent(accuracy.accuracy),
            f"precision {format_percent(accuracy.precision)} · recall "
            f"{format_percent(accuracy.recall)}"),
        Kpi("Fraud prevented", format_money(business.fraud_prevented_amount, currency),
            f"missed {format_money(business.fraud_missed_amount, currency)}"),
        Kpi(f"Cost per transaction{_modelled(business)}",
            format_money(business.cost_per_transaction, currency, unit_cost=True),
            f"total {format_money(business.total_cost, currency)} · ROI "
            f"{format_signed_percent(business.roi_pct)}"),
    ]


# --------------------------------------------------------------------------- faults


def _fault_verdict(fault: FaultEntry) -> Tag:
    if "passed" not in fault.model_fields_set:
        return Tag("badge na", "not measured")
    if fault.passed is None:
        return Tag("badge na", "not injected")
    return _badge(fault.passed)


def _fault_row(fault: FaultEntry, index: int) -> list[Any]:
    detect, recover = fault.time_to_detect_s, fault.time_to_recover_s
    target = f"{fault.type or NA} · {fault.target or 'all'}"
    if fault.intensity is not None:
        target += f" · {format_number(fault.intensity)}"
    start, end = fault_start_end(fault)
    window = f"{format_clock_or_na(start)}–{format_clock_or_na(end)}"
    if fault.timing == "planned":
        window += " (planned)"
    accuracy = " / ".join(format_percent(value) for value in
                          (fault.accuracy_before, fault.accuracy_during, fault.accuracy_after))
    budget = fault.error_budget_spent_pct
    met = sum(1 for c in fault.criteria if c.passed is True)
    measured = fault.passed is not None
    return [
        fault_name(fault, index), target, window,
        "not breached" if measured and detect is None else format_unit(detect, "s"),
        "never" if measured and recover is None else format_unit(recover, "s"),
        format_number(fault.affected), format_number(fault.lost),
        NA if finite(budget) is None else f"{format_number(budget)}%", accuracy,
        f"{met} of {len(fault.criteria)}" if fault.criteria else "none",
        _fault_verdict(fault), fault_why(fault),
    ]


def _baseline(fault: FaultEntry, index: int) -> str | None:
    base = fault.baseline
    if base is None or not base.model_fields_set:
        return None
    seconds = whole(base.seconds) or 0
    if base.error_rate is not None:
        text = (f"{seconds} s, errors {format_percent(base.error_rate)}, p95 "
                f"{format_unit(base.p95_ms, 'ms')}")
    else:
        text = f"none ({seconds} clean s before it): judged against a clean target"
    return f"{fault_name(fault, index)}: {text}"


def _faults(summary: RunSummary) -> dict[str, Any] | None:
    faults = summary.faults
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


def _criteria(summary: RunSummary) -> Table | None:
    if not summary.criteria:
        return None
    rows = [(c.expr, c.window or "run", format_number(c.observed), _badge(c.passed))
            for c in summary.criteria]
    return Table(("Criterion", "Window", "Observed", "Verdict"), rows)


_COUNT_TOTALS = ("scheduled", "sent", "ok", "errors", "timeouts", "dropped", "undelivered",
                 "target_received")


def _counts(summary: RunSummary) -> dict[str, Any]:
    counts = summary.counts
    rows = [(c.identity, format_number(c.left), format_number(c.right), _mark(c.passed), c.note)
            for c in reconcile_counts(counts)]
    totals: KeyValues = [(key, format_number(getattr(counts, key))) for key in _COUNT_TOTALS]
    totals += [(f"errors: {k}", format_number(v)) for k, v in counts.errors_by_class.items()]
    return {"checks": Table(("Identity", "Left", "Right", "Holds", "Note"), rows),
            "totals": totals}


def _accuracy(summary: RunSummary) -> dict[str, Any] | None:
    accuracy = summary.accuracy
    if not accuracy.model_fields_set:
        return None
    metrics: KeyValues = [("labelled", format_number(accuracy.labelled))]
    metrics += [(key.replace("_", " "), format_percent(getattr(accuracy, key)))
                for key in ("accuracy", "precision", "recall", "false_positive_rate")]
    metrics += [(f"decision: {k}", format_number(v)) for k, v in summary.decisions.items()]
    confusion = Table(("", "flagged", "not flagged"), [
        ("actual fraud", format_number(accuracy.tp), format_number(accuracy.fn)),
        ("actual legitimate", format_number(accuracy.fp), format_number(accuracy.tn)),
    ], "confusion")
    pattern_rows = [
        (name, format_number(pattern.seen), format_number(pattern.flagged),
         format_percent(pattern.detection_rate))
        for name, pattern in accuracy.by_pattern.items()
    ]
    by_pattern = Table(("Pattern", "Seen", "Flagged", "Flag rate"), pattern_rows) \
        if pattern_rows else None
    return {"metrics": metrics, "confusion": confusion, "by_pattern": by_pattern}


def _agents(summary: RunSummary) -> Table | None:
    if not summary.agents:
        return None
    rows = [(name, format_number(agent.calls), format_unit(agent.avg_ms, "ms"),
             format_unit(agent.p95_ms, "ms"), format_number(agent.errors))
            for name, agent in summary.agents.items()]
    return Table(("Agent", "Calls", "Avg", "p95", "Errors"), rows)


def _business(summary: RunSummary) -> KeyValues | None:
    business = summary.business
    if not business.model_fields_set:
        return None
    currency = str(business.currency or "")
    return [
        ("Fraud detected (transactions)", format_number(business.fraud_detected)),
        ("Fraud prevented", format_money(business.fraud_prevented_amount, currency)),
        ("Fraud missed", format_money(business.fraud_missed_amount, currency)),
        ("False-positive amount", format_money(business.false_positive_amount, currency)),
        (f"Cost per transaction{_modelled(business)}",
         format_money(business.cost_per_transaction, currency, unit_cost=True)),
        ("Total cost", format_money(business.total_cost, currency)),
        ("ROI", format_signed_percent(business.roi_pct)),
        ("Pricing source", business.pricing_source or NA),
        ("Cost basis", business.cost_model or business.cost_basis or "modelled"),
    ]


def _modelled(business: Business) -> str:
    """Summaries before cost_basis priced a declared usage: modelled too."""
    recorded = "cost_basis" in business.model_fields_set
    return " (modelled)" if not recorded or business.cost_basis == "modelled" else ""


def _workers_and_load(summary: RunSummary) -> KeyValues:
    workers, load, lag = summary.workers_report, summary.load, summary.schedule_lag_ms
    lags = (None, None, None) if lag is None else (lag.p50, lag.p99, lag.max)
    return [
        ("Workers expected", format_number(workers.expected)),
        ("Workers finished", format_number(workers.finished)),
        ("Workers failed", ", ".join(workers.failed) or "none"),
        ("Target TPS (avg)", format_number(load.target_tps_avg)),
        ("Peak TPS", format_number(load.peak_tps)),
        ("Rate error", format_signed_percent(load.rate_error_pct)),
        ("Schedule lag p50 / p99 / max", " / ".join(format_unit(v, "ms") for v in lags)),
    ]


# --------------------------------------------------------------------------- the page and files


def render_report_html(run_summary: SummaryLike, series: Sequence[Mapping[str, Any]]) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts, no external resources."""
    summary = as_run_summary(run_summary)
    title = f"stresslab · {summary.scenario or 'run'} · {summary.run_id or ''}"
    return render(
        "report.html.j2",
        title=title.strip(" ·"),
        header=_header(summary),
        verdict=_verdict(summary),
        held_rate=held_rate_sentence(summary.held_rate),
        kpis=_key_numbers(summary),
        charts=run_charts(summary, series),
        faults=_faults(summary),
        criteria=_criteria(summary),
        counts=_counts(summary),
        accuracy=_accuracy(summary),
        agents=_agents(summary),
        business=_business(summary),
        workers_and_load=_workers_and_load(summary),
        notes=summary.notes,
        schema=summary.schema_ or "stresslab.summary",
        rows=len(series),
    )


def write_outputs(
    out_dir: Path, run_summary: SummaryLike, series: Sequence[Mapping[str, Any]]
) -> dict[str, Path]:
    """Write summary.json, timeseries.csv, report.html and junit.xml into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = as_run_summary(run_summary)
    # summary.json as given: a RunSummary's own text, or the dict it was handed byte for byte
    text = summary.to_json() if run_summary is summary else json.dumps(run_summary, indent=2) + "\n"
    contents = {
        "summary": ("summary.json", text),
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
