"""capacity.html: one self-contained page charting a capacity search step by step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stresslab.outputs.charts import VERDICT_COLORS, ReferenceLine, StepChart, StepPoint
from stresslab.outputs.format import format_fixed, format_percent
from stresslab.outputs.rendering import render
from stresslab.scenario.criteria import parse_threshold
from stresslab.targets.identity import identify_target

HEADLINES = {
    "found": "Capacity {capacity} TPS",
    "max-reached": "Capacity at least {capacity} TPS (every step up to max_tps passed)",
    "none-passed": "No capacity: even {start} TPS failed",
    "generator-limited": "Generator-limited: the load generator could not keep up",
    "incomplete": "Search incomplete",
}
_THRESHOLD_COLOR = "#59636e"


def _thresholds(criteria: Sequence[str], metric: str) -> list[float]:
    values = []
    for text in criteria:
        try:
            threshold = parse_threshold(text.split(" [", 1)[0])
        except ValueError:
            continue
        if threshold.metric == metric:
            values.append(threshold.value)
    return values


def _rate_lines(report: Mapping[str, Any]) -> list[ReferenceLine]:
    lines = []
    if report.get("capacity_tps") is not None:
        lines.append(ReferenceLine(report["capacity_tps"], VERDICT_COLORS["passed"],
                                   f"capacity {format_fixed(report['capacity_tps'])}"))
    if report.get("first_failing_tps") is not None:
        lines.append(ReferenceLine(report["first_failing_tps"], VERDICT_COLORS["failed"],
                                   f"first failing {format_fixed(report['first_failing_tps'])}"))
    return lines


def _label(step: Mapping[str, Any]) -> str:
    observed = step.get("observed") or {}
    return (f"step {step['index']}: {format_fixed(step['tps'])} TPS {step['verdict']}; "
            f"p95 {format_fixed(observed.get('p95_ms'))} ms, errors "
            f"{format_percent(observed.get('error_rate'))}")


def build_charts(report: Mapping[str, Any]) -> list[StepChart]:
    """The rate at each step; p95 latency and error rate against the rate."""
    steps = report.get("steps") or []
    criteria = report.get("criteria") or []
    rate_lines = _rate_lines(report)

    def scatter(metric: str) -> list[StepPoint]:
        return [StepPoint(s["tps"], s["observed"][metric], s["verdict"], _label(s))
                for s in steps if (s.get("observed") or {}).get(metric) is not None]

    sequence = StepChart(
        "Rate at each step", "step", "TPS",
        [StepPoint(float(s["index"]), s["tps"], s["verdict"], _label(s)) for s in steps],
        bars=True, h_lines=rate_lines,
    )
    p95 = StepChart(
        "p95 latency vs rate", "TPS", "p95 ms", scatter("p95_ms"),
        h_lines=[ReferenceLine(v, _THRESHOLD_COLOR, f"p95 < {v:,g} ms")
                 for v in _thresholds(criteria, "p95_ms")],
        v_lines=rate_lines,
    )
    errors = StepChart(
        "Error rate vs rate", "TPS", "error rate", scatter("error_rate"),
        h_lines=[ReferenceLine(v, _THRESHOLD_COLOR, f"error rate < {v * 100:g}%")
                 for v in _thresholds(criteria, "error_rate")],
        v_lines=rate_lines, y_format=lambda v: f"{v * 100:.3g}%", log_allowed=False,
    )
    return [sequence, p95, errors]


def _headline(report: Mapping[str, Any]) -> str:
    search = report.get("search") or {}
    template = HEADLINES.get(report.get("outcome", ""), "Capacity search")
    return template.format(capacity=format_fixed(report.get("capacity_tps")),
                           start=format_fixed(search.get("start_tps")))


def _step_rows(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for step in steps:
        observed = step.get("observed") or {}
        cells = (
            step["index"], step["stage"], format_fixed(step["tps"]),
            format_fixed(step.get("achieved_tps")), format_fixed(observed.get("p95_ms")),
            format_fixed(observed.get("p99_ms")), format_percent(observed.get("error_rate")),
            format_fixed(step.get("dropped")), format_fixed(step.get("lag_p99_ms")),
        )
        why = "; ".join([*step.get("generator_issues", []), *step.get("failed_criteria", [])])
        rows.append({"cells": cells, "verdict": step["verdict"], "why": why})
    return rows


def render_capacity_html(report: Mapping[str, Any]) -> str:
    """The capacity search as one page: headline, step charts, the steps table, notes."""
    search = report.get("search") or {}
    facts = [
        f"first failing {format_fixed(report.get('first_failing_tps'))} TPS",
        f"resolution {format_fixed(report.get('resolution_tps'))} TPS",
        f"steps of {format_fixed(search.get('step_tps'))} TPS from "
        f"{format_fixed(search.get('start_tps'))} to {format_fixed(search.get('max_tps'))}, "
        f"{format_fixed(search.get('step_duration'))} s each, "
        f"{search.get('refine_steps')} refinement rounds",
    ]
    system = report.get("system_under_test")
    return render(
        "capacity.html.j2",
        report=report,
        system=system.get("label") if isinstance(system, Mapping) and system.get("label")
        else identify_target(str(report.get("target"))).label,
        headline=_headline(report),
        facts="; ".join(facts),
        criteria=", ".join(report.get("criteria") or []) or "none",
        notes=report.get("notes") or [],
        charts=[chart.render() for chart in build_charts(report)],
        steps=_step_rows(report.get("steps") or []),
    )
