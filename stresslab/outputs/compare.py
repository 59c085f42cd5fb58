"""`stresslab compare`: read two runs (a store run id, a result folder, a summary.json, or one
fetched from the AWS results bucket), compare them whole and phase by phase
(judgement/regression.py) and write compare.json and compare.html."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from stresslab.judgement.phases import (
    PhaseFigures,
    aligned_second,
    phase_at,
    phase_figures,
    windows_of_spec,
)
from stresslab.judgement.regression import Comparison, Distribution, MetricDelta, RunFigures
from stresslab.judgement.summary_model import PhaseWindow, RunSummary, load_summary, read_summary
from stresslab.measurement.aggregate import latency_ms
from stresslab.measurement.metrics import WindowStats, add_encoded, new_histogram
from stresslab.outputs.charts import ChartLine, render_line_chart
from stresslab.outputs.format import NA, format_number
from stresslab.outputs.rendering import render
from stresslab.scenario.regressions import RegressionRule, parse_rule

COMPARE_SCHEMA = "stresslab.compare/v1"
PERCENT_GROUPS = ("errors", "accuracy", "detection", "agents")  # shares of 0..1


class UnreadableRun(ValueError):
    """A side that is neither a readable summary, a result folder nor a stored run."""


@dataclass
class ComparedRun:
    figures: RunFigures
    source: str
    series: list[dict[str, Any]]
    rules: list[RegressionRule] | None  # from the run's stored scenario; None: not stored


FetchSummary = Callable[[str], bytes]  # an s3:// URL → summary.json's bytes (stresslab/aws)


def read_side(reference: str, db_path: Path, fetch: FetchSummary | None = None) -> ComparedRun:
    """A summary.json path, a folder holding one, a run id in the store at db_path, or (with
    `fetch`) an s3:// URL of a run's folder or summary.json in the results bucket."""
    if reference.startswith("s3://"):
        if fetch is None:
            raise UnreadableRun(f"{reference}: s3:// runs are read by `stresslab compare` only")
        try:
            summary = read_summary(json.loads(fetch(reference)))
        except json.JSONDecodeError:
            raise UnreadableRun(f"{reference}: not JSON") from None
        return ComparedRun(RunFigures(summary), reference, [], None)
    path = Path(reference)
    if path.is_dir():
        path = path / "summary.json"
        if not path.is_file():
            raise UnreadableRun(f"{reference}: no summary.json in that folder")
    if path.is_file():
        summary = load_summary(path)
        series = read_series_csv(path.with_name("timeseries.csv"))
        windows = run_phases(summary, None)
        phases = phase_figures(windows, series) if windows and series else None
        return ComparedRun(RunFigures(summary, phases=phases), str(path), series, None)
    return read_stored(reference, db_path)


_CSV_NUMBERS = ("second", "sent", "errors", "timeouts", "labelled", "accuracy", "p50_ms",
                "p95_ms", "p99_ms", "max_ms")


def read_series_csv(path: Path) -> list[dict[str, Any]]:
    """The per-second series a result folder's timeseries.csv holds (the columns compare
    uses); none when the file is missing or unreadable."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    series = []
    for row in rows:
        try:
            values = {key: float(row[key]) if row.get(key) else None for key in _CSV_NUMBERS}
        except ValueError:
            return []
        if values["second"] is None:
            return []
        for key in ("second", "sent", "errors", "timeouts", "labelled"):
            values[key] = int(values[key] or 0)
        accuracy, labelled = values.pop("accuracy"), values["labelled"] or 0
        values["correct"] = round(accuracy * labelled) if accuracy is not None else 0
        series.append(values)
    return series


def distribution_of(histogram: HdrHistogram) -> Distribution:
    """An HDR histogram's buckets as (ms, count), for the KS test."""
    return [(item.value_iterated_to / 1000.0, item.count_at_value_iterated_to)
            for item in histogram.get_recorded_iterator()]


def figures_of(summary: RunSummary, histogram: HdrHistogram | None,
               phases: list[PhaseFigures] | None = None) -> RunFigures:
    """A run's figures: its summary, and its latency from the merged histogram when kept."""
    if histogram is None or not histogram.get_total_count():
        return RunFigures(summary, phases=phases)
    return RunFigures(summary, latency_ms(WindowStats(latency=histogram)),
                      distribution_of(histogram), phases)


def run_phases(summary: RunSummary, spec: dict[str, Any] | None) -> list[PhaseWindow]:
    """The run's phases: as its summary records them, else from its stored scenario."""
    if summary.phases:
        return list(summary.phases)
    return windows_of_spec(spec) if spec else []


def read_stored(run_id: str, db_path: Path) -> ComparedRun:
    """A run in the store at db_path, with its merged histograms and per-phase figures."""
    from stresslab.local.store import RunNotFound, SqliteRunStore

    if not db_path.is_file():
        raise UnreadableRun(f"{run_id!r} is not a file or folder, and there is no run store at "
                            f"{db_path}")
    store = SqliteRunStore(db_path)
    try:
        try:
            record = store.get_run(run_id)
        except RunNotFound:
            raise UnreadableRun(f"{run_id!r}: no such file, folder or run in {db_path}") from None
        if record["summary"] is None:
            raise UnreadableRun(f"run {run_id} has no summary yet (status {record['status']})")
        summary = read_summary(record["summary"])
        windows = run_phases(summary, record["spec"])
        histogram = new_histogram()
        by_phase = [new_histogram() for _ in windows]
        for batch in store.batches(run_id):
            add_encoded(histogram, batch.latency)
            index = phase_at(windows, batch.window)
            if index is not None:
                add_encoded(by_phase[index], batch.latency)
        series = store.series(run_id)
    finally:
        store.close()
    latency = [(latency_ms(WindowStats(latency=h)), distribution_of(h))
               if h.get_total_count() else None for h in by_phase]
    phases = phase_figures(windows, series, latency) if windows and series else None
    spec = record["spec"] or {}
    rules = [parse_rule(text) if isinstance(text, str) else RegressionRule.model_validate(text)
             for text in spec.get("regressions", [])]
    return ComparedRun(figures_of(summary, histogram, phases), f"run store {db_path}", series,
                       rules)


def _metric(m: MetricDelta) -> dict[str, Any]:
    noise = None if m.noise is None else {
        "test": m.noise.name, "statistic": m.noise.statistic, "critical": m.noise.critical,
        "significant": m.noise.significant}
    return {"metric": m.metric, "group": m.group, "baseline": m.baseline,
            "candidate": m.candidate, "delta": m.delta, "delta_pct": m.delta_pct,
            "noise": noise}


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    def side(figures: RunFigures) -> dict[str, Any]:
        s = figures.summary
        return {"run_id": s.run_id, "scenario": s.scenario, "target": s.target,
                "started_at": s.started_at, "duration_s": s.duration_s, "passed": s.passed,
                "latency_from": figures.latency_source}

    return {
        "schema": COMPARE_SCHEMA,
        "baseline": side(comparison.baseline),
        "candidate": side(comparison.candidate),
        "noise": "rates: two-proportion z test, |z| > 2.576 (1%, two-sided); latency: "
                 "Kolmogorov-Smirnov on the merged HDR histograms at 1% when both runs have "
                 "them, otherwise none",
        "metrics": [_metric(m) for m in comparison.metrics],
        "phase_note": comparison.phase_note,
        "phases": _phase_rows(comparison),
        "rules": [{"rule": v.rule.expr, "baseline": v.baseline, "candidate": v.candidate,
                   "change": v.change, "broken": v.broken, "reason": v.reason}
                  for v in comparison.rules],
        "regressed": comparison.regressed,
    }


def _windows(run: ComparedRun) -> list[PhaseWindow]:
    return [phase.window for phase in run.figures.phases or []]


def _overlay(comparison: Comparison, baseline: ComparedRun, candidate: ComparedRun, key: str,
             title: str) -> Any:
    """Both runs' series on the baseline's time axis; when their phases pair up, each
    candidate phase is stretched onto the baseline's, so every phase starts together."""
    if not (baseline.series and candidate.series):
        return None
    own, onto = _windows(candidate), _windows(baseline)
    aligned = bool(comparison.phases)

    def x(second: float) -> float:
        return aligned_second(second, own, onto) if aligned else second

    lines = [
        ChartLine("baseline", "#888888", [(row["second"], row.get(key)) for row in baseline.series],
                  dashed=True),
        ChartLine("candidate", "#1f6feb",
                  [(x(row["second"]), row.get(key)) for row in candidate.series]),
    ]
    axis = " (candidate's phases aligned on the baseline's)" if aligned else ""
    return render_line_chart(lines, title=title + axis, y_label=title)


def _axis_note(comparison: Comparison) -> str:
    if not comparison.phases:
        return "Both runs on their own elapsed seconds."
    starts = ", ".join(f"{p.name} at {p.baseline.start_s:g}s (candidate {p.candidate.start_s:g}s)"
                       for p in comparison.phases)
    return ("Series on the baseline's time axis; each candidate phase is stretched onto the "
            f"baseline's so the phases start together: {starts}.")


def _phase_rows(comparison: Comparison) -> list[dict[str, Any]]:
    return [{"phase": row.name,
             "baseline": {"start_s": row.baseline.start_s, "end_s": row.baseline.end_s},
             "candidate": {"start_s": row.candidate.start_s, "end_s": row.candidate.end_s},
             "metrics": [_metric(m) for m in row.metrics]}
            for row in comparison.phases]


def _cell(m: MetricDelta, value: float | None) -> str:
    if value is None:
        return NA
    if m.group in PERCENT_GROUPS:
        return f"{value * 100:.3f}%"
    return format_number(value)


def _row(m: MetricDelta) -> dict[str, Any]:
    delta = NA if m.delta is None else (
        f"{m.delta * 100:+.3f}pp" if m.group in PERCENT_GROUPS
        else f"{m.delta:+,.3g}" + ("" if m.delta_pct is None else f" ({m.delta_pct:+.1f}%)"))
    noise = "no test" if m.noise is None else (
        f"{'beyond noise' if m.noise.significant else 'within noise'} "
        f"({m.noise.name} {m.noise.statistic:.3g}, critical {m.noise.critical:.3g})")
    return {"metric": m.metric, "baseline": _cell(m, m.baseline),
            "candidate": _cell(m, m.candidate), "delta": delta, "noise": noise,
            "significant": bool(m.significant)}


def write_comparison(
    comparison: Comparison, baseline: ComparedRun, candidate: ComparedRun, out: Path,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = comparison_json(comparison)
    json_path = out / "compare.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    rows = [_row(m) for m in comparison.metrics]
    phases = [{"name": p.name, "baseline": f"{p.baseline.start_s:g}-{p.baseline.end_s:g}s",
               "candidate": f"{p.candidate.start_s:g}-{p.candidate.end_s:g}s",
               "rows": [_row(m) for m in p.metrics]} for p in comparison.phases]
    charts = [chart for chart in (
        _overlay(comparison, baseline, candidate, "p95_ms", "p95 latency (ms)"),
        _overlay(comparison, baseline, candidate, "sent", "achieved TPS"),
    ) if chart is not None]
    html_path = out / "compare.html"
    html_path.write_text(render(
        "compare.html.j2", data=data, rows=rows, rules=data["rules"], charts=charts,
        phases=phases, axis=_axis_note(comparison),
        headline="REGRESSION" if comparison.regressed else "NO REGRESSION",
    ))
    return [json_path, html_path]


def rules_for(candidate: ComparedRun) -> tuple[list[RegressionRule], str]:
    """The candidate's scenario's rules: as the store kept its scenario, else the bundled
    scenario of that name; (rules, where they came from)."""
    if candidate.rules is not None:
        return candidate.rules, "the candidate's stored scenario"
    from stresslab.scenario.spec import ScenarioError, load_scenario

    name = candidate.figures.summary.scenario
    try:
        return list(load_scenario(name).regressions), f"scenarios/{name}.yaml"
    except ScenarioError:
        return [], f"no scenario {name!r} found; no rules"


def compare_command(baseline_ref: str, candidate_ref: str, out: Path | None, db_path: Path,
                    fetch: FetchSummary | None = None) -> tuple[int, str]:
    """Read, compare, write; (exit code: 1 when a rule breaks, the lines to print). ValueError
    with one line when a side cannot be read, a rule cannot be parsed, or the runs ran
    different scenarios."""
    from stresslab.judgement.regression import compare_runs

    baseline = read_side(baseline_ref, db_path, fetch)
    candidate = read_side(candidate_ref, db_path, fetch)
    rules, rules_from = rules_for(candidate)
    comparison = compare_runs(baseline.figures, candidate.figures, rules)
    folder = out or Path("results") / (
        f"compare-{baseline.figures.summary.run_id}-{candidate.figures.summary.run_id}")
    paths = write_comparison(comparison, baseline, candidate, folder)
    lines = [f"{'REGRESSION' if comparison.regressed else 'no regression'}: "
             f"{candidate.figures.summary.run_id} against {baseline.figures.summary.run_id} "
             f"({len(rules)} rules from {rules_from})"]
    lines += [f"  {'BROKEN' if v.broken else 'holds '} {v.rule.expr}: {v.reason}"
              for v in comparison.rules]
    lines += [f"  wrote {path}" for path in paths]
    return (1 if comparison.regressed else 0), "\n".join(lines)
