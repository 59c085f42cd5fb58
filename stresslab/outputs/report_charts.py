"""The four time-series charts of report.html, drawn from the per-second rows and the faults."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from stresslab.judgement.summary_model import FaultEntry, RunSummary
from stresslab.outputs.charts import (
    ChartBand,
    ChartLine,
    ChartMarker,
    Point,
    downsample,
    render_line_chart,
)
from stresslab.outputs.format import finite, format_unit, whole
from stresslab.outputs.timeseries_csv import error_classes, errors_by_class

MAX_CHART_POINTS = 1000
_ERROR_COLORS: dict[str, str] = {
    "connect": "#7c3aed", "http_4xx": "#0891b2", "http_429": "#d97706", "http_5xx": "#dc2626",
    "invalid_response": "#a21caf", "oversized": "#4d7c0f", "other": "#64748b",
    "timeouts": "#be185d", "dropped": "#111827",
}
_FALLBACK_COLORS: tuple[str, ...] = ("#0d9488", "#4f46e5", "#a16207", "#9333ea")

Row = Mapping[str, Any]


@dataclass(frozen=True)
class RunChart:
    title: str
    caption: str
    svg: Markup


def fault_start_end(fault: FaultEntry) -> tuple[float | None, float | None]:
    """Where a fault was observed; its planned window when it has no observed one (AWS)."""
    start = finite(fault.start_s)
    if start is None and "start_s" not in fault.model_fields_set:
        return finite(fault.planned_start_s), finite(fault.planned_end_s)
    return start, finite(fault.end_s)


def fault_name(fault: FaultEntry, index: int) -> str:
    number = whole(fault.number) or index + 1
    if fault.label:
        return f"{number} · {fault.label}"
    return f"{fault.type or 'fault'}: {fault.target or 'all'}"


def _bucket_seconds(series: Sequence[Row]) -> int:
    return max(1, math.ceil(len(series) / MAX_CHART_POINTS))


def _column(series: Sequence[Row], pick: Callable[[Row], Any]) -> list[Point]:
    points: list[Point] = []
    for row in series:
        second = finite(row.get("second"))
        if second is not None:
            points.append((second, finite(pick(row))))
    return points


def _field(key: str) -> Callable[[Row], Any]:
    return lambda row: row.get(key)


def _error_field(name: str) -> Callable[[Row], Any]:
    return lambda row: errors_by_class(row).get(name)


def _x_domain(summary: RunSummary, series: Sequence[Row]) -> tuple[float, float]:
    seconds = [s for s in (finite(row.get("second")) for row in series) if s is not None]
    if seconds:
        lo, hi = min(seconds), max(seconds)
        return (lo, hi if hi > lo else lo + 1.0)
    return (0.0, max(finite(summary.duration_s) or 1.0, 1.0))


def _fault_bands(summary: RunSummary, x_hi: float) -> list[ChartBand]:
    bands = []
    for index, fault in enumerate(summary.faults):
        start, end = fault_start_end(fault)
        if start is None:
            continue
        parts = [f"{fault.type or 'fault'} on {fault.target or 'all'}"]
        if fault.intensity is not None:
            parts.append(f"intensity {fault.intensity}")
        bands.append(ChartBand(start, end if end is not None else x_hi,
                               fault_name(fault, index), " · ".join(parts)))
    return bands


def _fault_markers(summary: RunSummary) -> list[ChartMarker]:
    markers = []
    for index, fault in enumerate(summary.faults):
        name = fault_name(fault, index)
        detected = finite(fault.detected_at_s)
        recovered = finite(fault.recovered_at_s)
        if detected is not None:
            after = format_unit(fault.time_to_detect_s, "s")
            markers.append(ChartMarker(detected, "detected", f"({name}, {after} after it began)"))
        if recovered is not None:
            after = format_unit(fault.time_to_recover_s, "s")
            markers.append(ChartMarker(recovered, "recovered",
                                       f"({name}, {after} after it ended)"))
    return markers


def _throughput_chart(series: Sequence[Row], common: dict[str, Any], bucket: int) -> RunChart:
    # target last: dashed on top stays visible where achieved tracks it exactly
    lines = [
        ChartLine("achieved (sent/s)", "#2563eb",
                  downsample(_column(series, _field("sent")), bucket)),
        ChartLine("ok/s", "#16a34a", downsample(_column(series, _field("ok")), bucket)),
        ChartLine("target", "#0f172a", downsample(_column(series, _field("target_tps")), bucket),
                  dashed=True),
    ]
    title = "Throughput: target vs achieved"
    svg = render_line_chart(lines, title=title, y_label="transactions / s", **common)
    return RunChart(title, "Requests per second, as scheduled and as sent; ok/s excludes "
                    "errors and timeouts.", svg)


def _latency_chart(series: Sequence[Row], common: dict[str, Any], bucket: int) -> RunChart:
    specs = (("p50", "p50_ms", "#2563eb"), ("p95", "p95_ms", "#d97706"),
             ("p99", "p99_ms", "#dc2626"))
    lines = [ChartLine(label, color, downsample(_column(series, _field(key)), bucket, "max"))
             for label, key, color in specs]
    lows = [y for _, y in lines[0].points if y is not None and y > 0]
    highs = [y for _, y in lines[2].points if y is not None]
    log_y = bool(lows and highs) and max(highs) / min(lows) >= 50
    title = "Latency percentiles"
    svg = render_line_chart(lines, title=title, y_label="ms" + (" (log)" if log_y else ""),
                            log_y=log_y, **common)
    scale = "log scale, " if log_y else ""
    return RunChart(title, f"Per-second percentiles from the intended send time ({scale}"
                    "worst second per bucket when downsampled).", svg)


def _errors_chart(series: Sequence[Row], common: dict[str, Any], bucket: int) -> RunChart:
    picks: list[tuple[str, Callable[[Row], Any]]] = [
        (name, _error_field(name)) for name in error_classes(series)
    ]
    picks += [("timeouts", _field("timeouts")), ("dropped", _field("dropped"))]
    lines = []
    for index, (name, pick) in enumerate(picks):
        points = downsample(_column(series, pick), bucket, "max")
        if any(y for _, y in points):
            color = _ERROR_COLORS.get(name, _FALLBACK_COLORS[index % len(_FALLBACK_COLORS)])
            lines.append(ChartLine(name, color, points))
    if not lines:
        lines = [ChartLine("errors (none)", "#16a34a",
                           downsample(_column(series, _field("errors")), bucket, "max"))]
    title = "Errors, timeouts and drops"
    svg = render_line_chart(lines, title=title, y_label="per second", **common)
    return RunChart(title, "Failed requests per second by class; only classes that occurred "
                    "are drawn (peak second per bucket when downsampled).", svg)


def _accuracy_chart(series: Sequence[Row], common: dict[str, Any], bucket: int) -> RunChart:
    lines = [ChartLine("accuracy", "#059669",
                       downsample(_column(series, _field("accuracy")), bucket))]
    title = "Detection accuracy"
    svg = render_line_chart(lines, title=title, y_label="accuracy", y_min=None, y_max=1.0,
                            y_format=lambda v: f"{round(v * 100, 6):g}%", **common)
    return RunChart(title, "Share of labelled transactions decided correctly per second.", svg)


def run_charts(summary: RunSummary, series: Sequence[Row]) -> list[RunChart]:
    """Throughput, latency, errors and accuracy over the run, fault windows shaded on each."""
    ordered = sorted(series, key=lambda row: finite(row.get("second")) or 0.0)
    x_domain = _x_domain(summary, ordered)
    common: dict[str, Any] = {"x_domain": x_domain,
                              "bands": _fault_bands(summary, x_domain[1]),
                              "markers": _fault_markers(summary)}
    bucket = _bucket_seconds(ordered)
    charts = [build(ordered, common, bucket) for build in
              (_throughput_chart, _latency_chart, _errors_chart, _accuracy_chart)]
    if bucket > 1:
        note = f" Downsampled: each point summarises {bucket} s."
        charts = [RunChart(c.title, c.caption + note, c.svg) for c in charts]
    return charts
