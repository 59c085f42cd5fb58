"""Run outputs: summary.json, timeseries.csv, junit.xml and a self-contained report.html."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ERROR_CLASSES: tuple[str, ...] = ("connect", "http_4xx", "http_429", "http_5xx", "other")
MAX_CHART_POINTS = 1000

_CSV_HEAD: tuple[str, ...] = (
    "second", "target_tps", "scheduled", "sent", "ok", "errors", "timeouts", "dropped",
)
_CSV_TAIL: tuple[str, ...] = (
    "p50_ms", "p95_ms", "p99_ms", "max_ms", "lag_p99_ms", "labelled", "accuracy",
    "fraud_prevented_usd", "active_workers", "faults",
)
_ERROR_COLORS: dict[str, str] = {
    "connect": "#7c3aed", "http_4xx": "#0891b2", "http_429": "#d97706", "http_5xx": "#dc2626",
    "other": "#64748b", "timeouts": "#be185d", "dropped": "#111827",
}
_FALLBACK_COLORS: tuple[str, ...] = ("#0d9488", "#4f46e5", "#a16207", "#9333ea")
_TIME_STEPS: tuple[int, ...] = (
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600,
)
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NA = "n/a"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Point = tuple[float, float | None]


# --------------------------------------------------------------------------- value helpers


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None and number.is_integer() else None


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _records(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_number(value: Any) -> str:
    """Human-readable number; "n/a" for null or non-finite values."""
    if value is None:
        return _NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return _NA
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _fmt_unit(value: Any, unit: str) -> str:
    text = format_number(value)
    return text if text == _NA else f"{text} {unit}"


def _fmt_pct(ratio: Any) -> str:
    number = _num(ratio)
    return _NA if number is None else f"{number * 100:.2f}%"


def _fmt_signed_pct(pct: Any) -> str:
    number = _num(pct)
    return _NA if number is None else f"{number:+,.2f}%"


def _fmt_money(value: Any, currency: str, *, unit_cost: bool = False) -> str:
    number = _num(value)
    if number is None:
        return _NA
    text = format_number(number) if unit_cost else f"{number:,.2f}"
    return f"{currency} {text}".strip()


def format_clock(seconds: float) -> str:
    """Elapsed seconds as mm:ss (h:mm:ss past one hour)."""
    total = int(round(seconds))
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes:02d}:{secs:02d}"


def format_axis_number(value: float) -> str:
    """Compact tick label: 1500 -> 1.5k."""
    value = round(value, 9)
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


# --------------------------------------------------------------------------- timeseries.csv


def _error_classes(series: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = {str(key) for row in series for key in _section(row, "errors_by_class")}
    return [*ERROR_CLASSES, *sorted(seen - set(ERROR_CLASSES))]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True)
    elif isinstance(value, Sequence):
        text = ";".join(str(item) for item in value)
    else:
        text = str(value)
    # a spreadsheet would run a cell starting like a formula; names from outside stay text
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def render_timeseries_csv(series: Sequence[Mapping[str, Any]]) -> str:
    """One row per second; errors_by_class flattened to err_<class>; nested detail left out."""
    classes = _error_classes(series)
    known = {*_CSV_HEAD, *_CSV_TAIL, "errors_by_class"}
    extra = sorted(
        {str(key) for row in series for key, value in row.items() if not isinstance(value, dict)}
        - known
    )
    header = [*_CSV_HEAD, *(f"err_{name}" for name in classes), *_CSV_TAIL, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in series:
        by_class = _section(row, "errors_by_class")
        cells = [
            *(row.get(key) for key in _CSV_HEAD),
            *(by_class.get(name) for name in classes),
            *(row.get(key) for key in (*_CSV_TAIL, *extra)),
        ]
        writer.writerow([_csv_cell(cell) for cell in cells])
    return buffer.getvalue()


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class CountCheck:
    """One reconciliation identity; passed is None when a term is unknown."""

    identity: str
    left: int | None
    right: int | None
    passed: bool | None
    required: bool
    note: str


def _check(identity: str, left: Any, terms: Sequence[Any], *, required: bool) -> CountCheck:
    left_value = _int(left)
    values = [_int(term) for term in terms]
    if left_value is None or any(value is None for value in values):
        note = "a term is unknown" if required else "not reported"
        return CountCheck(identity, left_value, None, None, required, note)
    right_value = sum(value for value in values if value is not None)
    passed = left_value == right_value
    note = "" if passed else f"off by {left_value - right_value:+,}"
    return CountCheck(identity, left_value, right_value, passed, required, note)


def reconcile_counts(counts: Mapping[str, Any]) -> list[CountCheck]:
    """The identities every run's counts must satisfy; nothing may be silently lost."""
    get = counts.get
    by_class = _section(counts, "errors_by_class")
    class_terms: list[Any] = list(by_class.values()) if by_class else [None]
    return [
        _check("scheduled = sent + dropped", get("scheduled"), [get("sent"), get("dropped")],
               required=True),
        _check("sent = ok + errors + timeouts", get("sent"),
               [get("ok"), get("errors"), get("timeouts")], required=True),
        _check("target_received = sent - undelivered", get("target_received"),
               [get("sent"), -(_int(get("undelivered")) or 0)], required=False),
        _check("errors = sum(errors_by_class)", get("errors"), class_terms, required=False),
    ]


def _reconcile_failures(checks: Sequence[CountCheck]) -> list[str]:
    failures = []
    for check in checks:
        if check.passed is False:
            failures.append(
                f"{check.identity}: {format_number(check.left)} != {format_number(check.right)}"
            )
        elif check.passed is None and check.required:
            failures.append(f"{check.identity}: {check.note}")
    return failures


# --------------------------------------------------------------------------- junit.xml


def _xml_text(value: Any) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def _criterion_name(criterion: Mapping[str, Any]) -> str:
    window = criterion.get("window") or "run"
    return f"{criterion.get('expr', '?')} [{window}]"


def _add_case(
    suite: ET.Element, classname: str, name: str, failure: str | None, detail: str = ""
) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name), time="0")
    if failure is not None:
        node = ET.SubElement(case, "failure", message=_xml_text(failure), type="AssertionError")
        node.text = _xml_text(detail or failure)


def _add_fault_case(
    suite: ET.Element, classname: str, fault: Mapping[str, Any], index: int
) -> None:
    """One case per measured fault: it recovered, lost nothing and met its own criteria."""
    if "passed" not in fault:
        return
    number = _int(fault.get("number")) or index + 1
    name = f"fault {number} ({fault.get('label') or fault.get('type') or 'fault'}) recovers"
    detail = (f"detected after {_fmt_unit(fault.get('time_to_detect_s'), 's')}, recovered "
              f"after {_fmt_unit(fault.get('time_to_recover_s'), 's')}, affected "
              f"{format_number(fault.get('affected'))}, lost {format_number(fault.get('lost'))}")
    if fault.get("passed") is None:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name),
                             time="0")
        ET.SubElement(case, "skipped", message=_xml_text(
            f"not injected: {fault.get('status') or 'unknown'}"))
        return
    failure = None if fault.get("passed") is True else _fault_why(fault) or "failed"
    _add_case(suite, classname, name, failure, detail)


def _add_properties(suite: ET.Element, summary: Mapping[str, Any]) -> None:
    properties = ET.SubElement(suite, "properties")
    for key in ("run_id", "target", "status", "seed", "workers", "time_scale", "load_scale"):
        if summary.get(key) is not None:
            ET.SubElement(properties, "property", name=key, value=_xml_text(summary[key]))


def render_junit_xml(summary: Mapping[str, Any]) -> str:
    """One testsuite: a testcase per criterion, plus "counts reconcile" and "run completed"."""
    classname = _xml_text(f"stresslab.{summary.get('scenario') or 'unnamed'}")
    duration = _num(summary.get("duration_s")) or 0.0
    suite = ET.Element("testsuite", name=classname, time=f"{duration:.3f}")
    if summary.get("started_at"):
        suite.set("timestamp", _xml_text(summary["started_at"]))
    _add_properties(suite, summary)
    for criterion in _records(summary, "criteria"):
        expr = criterion.get("expr", "?")
        failure = None
        if criterion.get("passed") is not True:
            failure = f"observed {format_number(criterion.get('observed'))}, expected {expr}"
        _add_case(suite, classname, _criterion_name(criterion), failure)
    for index, fault in enumerate(_records(summary, "faults")):
        _add_fault_case(suite, classname, fault, index)
    problems = _reconcile_failures(reconcile_counts(_section(summary, "counts")))
    failure = "counts do not reconcile" if problems else None
    _add_case(suite, classname, "counts reconcile", failure, "\n".join(problems))
    status = summary.get("status")
    failure = None if status == "completed" else f"run status is {status or 'unknown'}"
    _add_case(suite, classname, "run completed", failure)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for case in cases if case.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for case in cases if case.find("skipped") is not None)))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"


# --------------------------------------------------------------------------- SVG charts


@dataclass(frozen=True)
class ChartLine:
    """One plotted series; a None y breaks the line."""

    label: str
    color: str
    points: Sequence[Point]
    dashed: bool = False


@dataclass(frozen=True)
class ChartBand:
    """A shaded x range, e.g. a fault window."""

    start: float
    end: float
    label: str
    detail: str = ""


@dataclass(frozen=True)
class ChartMarker:
    """A moment on the x axis, e.g. when a fault was detected or its recovery confirmed."""

    x: float
    kind: str  # "detected" or "recovered"
    detail: str = ""


_MARKER_COLORS: dict[str, str] = {"detected": "#dc2626", "recovered": "#15803d"}


@dataclass(frozen=True)
class _Frame:
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    log_y: bool
    left: float
    top: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def sx(self, x: float) -> float:
        return self.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * self.width

    def sy(self, y: float) -> float:
        if self.log_y:
            lo, hi, y = math.log10(self.y_lo), math.log10(self.y_hi), math.log10(y)
        else:
            lo, hi = self.y_lo, self.y_hi
        share = min(max((y - lo) / (hi - lo), 0.0), 1.0)
        return self.top + (1.0 - share) * self.height


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5, 5 x 10^k) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _log_ticks(values: Sequence[float]) -> list[float]:
    positive = [value for value in values if value > 0]
    if not positive:
        return [1.0, 10.0]
    lo_exp = math.floor(math.log10(min(positive)))
    hi_exp = max(math.ceil(math.log10(max(positive))), lo_exp + 1)
    multiples = (1, 2, 5) if hi_exp - lo_exp <= 3 else (1,)
    ticks = [m * 10.0**exp for exp in range(lo_exp, hi_exp) for m in multiples]
    return [*ticks, 10.0**hi_exp]


def _linear_ticks(values: Sequence[float], lo_fixed: float | None, hi_fixed: float | None
                  ) -> list[float]:
    lo = lo_fixed if lo_fixed is not None else min(values, default=0.0)
    hi = hi_fixed if hi_fixed is not None else max(values, default=1.0)
    if hi_fixed is None and hi > lo:
        hi += (hi - lo) * 0.05  # headroom, so a flat line at the peak is not drawn on the frame
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = (hi - pad, hi) if hi_fixed is not None else (lo, lo + pad)
    return nice_ticks(lo, hi)


def _time_ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next((s for s in _TIME_STEPS if span / s <= 10), _TIME_STEPS[-1])
    first = math.ceil(lo / step)
    return [float(i * step) for i in range(first, int(hi // step) + 1)]


def _svg_y_axis(frame: _Frame, ticks: Sequence[float], y_format: Callable[[float], str],
                y_label: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.sy(tick)
        parts.append(
            f'<line class="grid" x1="{frame.left:.1f}" x2="{frame.left + frame.width:.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{frame.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_esc(y_format(tick))}</text>"
        )
    mid = frame.top + frame.height / 2
    parts.append(
        f'<text class="axis-title" x="14" y="{mid:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {mid:.1f})">{_esc(y_label)}</text>'
    )
    return parts


def _svg_x_axis(frame: _Frame) -> list[str]:
    parts = [
        f'<line class="axis" x1="{frame.left:.1f}" x2="{frame.left + frame.width:.1f}" '
        f'y1="{frame.bottom:.1f}" y2="{frame.bottom:.1f}"/>'
    ]
    for tick in _time_ticks(frame.x_lo, frame.x_hi):
        x = frame.sx(tick)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom:.1f}" '
            f'y2="{frame.bottom + 4:.1f}"/>'
            f'<text class="tick" x="{x:.1f}" y="{frame.bottom + 17:.1f}" text-anchor="middle">'
            f"{format_clock(tick)}</text>"
        )
    parts.append(
        f'<text class="axis-title" x="{frame.left + frame.width:.1f}" y="{frame.bottom + 33:.1f}"'
        ' text-anchor="end">elapsed (mm:ss)</text>'
    )
    return parts


def _svg_bands(frame: _Frame, bands: Sequence[ChartBand]) -> list[str]:
    parts = []
    for index, band in enumerate(bands):
        start, end = max(band.start, frame.x_lo), min(band.end, frame.x_hi)
        if end < start:
            continue
        x = frame.sx(start)
        width = max(frame.sx(end) - x, 2.0)
        tip = f"{band.label}: {format_clock(band.start)}–{format_clock(band.end)} {band.detail}"
        parts.append(
            f'<g class="fault-band"><title>{_esc(tip.strip())}</title>'
            f'<rect x="{x:.1f}" y="{frame.top:.1f}" width="{width:.1f}" '
            f'height="{frame.height:.1f}"/>'
            f'<text x="{x + 4:.1f}" y="{frame.top + 13 + 13 * (index % 3):.1f}">'
            f"{_esc(band.label)}</text></g>"
        )
    return parts


def _svg_markers(frame: _Frame, markers: Sequence[ChartMarker]) -> list[str]:
    parts = []
    for marker in markers:
        if not frame.x_lo <= marker.x <= frame.x_hi:
            continue
        x = frame.sx(marker.x)
        color = _MARKER_COLORS.get(marker.kind, "#334155")
        tip = f"{marker.kind} at {format_clock(marker.x)} {marker.detail}".strip()
        parts.append(
            f'<g class="marker {_esc(marker.kind)}"><title>{_esc(tip)}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top:.1f}" y2="{frame.bottom:.1f}" '
            f'stroke="{color}" stroke-width="1.5" stroke-dasharray="3 3"/>'
            f'<path d="M{x - 4:.1f},{frame.top - 7:.1f} L{x + 4:.1f},{frame.top - 7:.1f} '
            f'L{x:.1f},{frame.top - 1:.1f} Z" fill="{color}"/></g>'
        )
    return parts


def _segments(points: Sequence[Point], log_y: bool) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or (log_y and y <= 0):
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x, y))
    return [segment for segment in segments if segment]


def _svg_lines(frame: _Frame, lines: Sequence[ChartLine]) -> list[str]:
    parts = []
    for line in lines:
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        shapes = [f'<g class="series"><title>{_esc(line.label)}</title>']
        for segment in _segments(line.points, frame.log_y):
            coords = " ".join(f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in segment)
            if len(segment) == 1:
                x, y = segment[0]
                shapes.append(
                    f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="3" '
                    f'fill="{_esc(line.color)}"/>'
                )
            else:
                shapes.append(
                    f'<polyline fill="none" stroke="{_esc(line.color)}" stroke-width="1.8" '
                    f'stroke-linejoin="round"{dash} points="{coords}"/>'
                )
        parts.append("".join(shapes) + "</g>")
    return parts


def _svg_legend(lines: Sequence[ChartLine], has_bands: bool, left: float,
                marker_kinds: Sequence[str] = ()) -> list[str]:
    parts = []
    x = left
    for line in lines:
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        parts.append(
            f'<line x1="{x:.1f}" x2="{x + 20:.1f}" y1="14" y2="14" stroke="{_esc(line.color)}" '
            f'stroke-width="2.5"{dash}/>'
            f'<text class="legend" x="{x + 26:.1f}" y="18">{_esc(line.label)}</text>'
        )
        x += 40 + 6.5 * len(line.label)
    if has_bands:
        parts.append(
            f'<rect class="fault-swatch" x="{x:.1f}" y="7" width="20" height="14"/>'
            f'<text class="legend" x="{x + 26:.1f}" y="18">fault window</text>'
        )
        x += 40 + 6.5 * len("fault window")
    for kind in marker_kinds:
        color = _MARKER_COLORS.get(kind, "#334155")
        parts.append(
            f'<line x1="{x + 10:.1f}" x2="{x + 10:.1f}" y1="6" y2="22" stroke="{color}" '
            f'stroke-width="1.5" stroke-dasharray="3 3"/>'
            f'<text class="legend" x="{x + 18:.1f}" y="18">{_esc(kind)}</text>'
        )
        x += 30 + 6.5 * len(kind)
    return parts


def _x_extent(lines: Sequence[ChartLine]) -> tuple[float, float]:
    xs = [x for line in lines for x, _ in line.points]
    return (min(xs), max(xs)) if xs else (0.0, 1.0)


def render_line_chart(
    lines: Sequence[ChartLine],
    *,
    title: str,
    bands: Sequence[ChartBand] = (),
    markers: Sequence[ChartMarker] = (),
    x_domain: tuple[float, float] | None = None,
    y_label: str = "",
    y_format: Callable[[float], str] = format_axis_number,
    y_min: float | None = 0.0,
    y_max: float | None = None,
    log_y: bool = False,
    width: int = 1120,
    height: int = 300,
) -> str:
    """An inline SVG line chart: x in elapsed seconds, nice y ticks, legend, shaded bands,
    and vertical markers."""
    values = [y for line in lines for _, y in line.points if y is not None]
    if log_y:
        values = [value for value in values if value > 0]
    ticks = _log_ticks(values) if log_y else _linear_ticks(values, y_min, y_max)
    x_lo, x_hi = x_domain or _x_extent(lines)
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    left, top, right, bottom = 64.0, 40.0, 20.0, 42.0
    frame = _Frame(x_lo, x_hi, ticks[0], ticks[-1], log_y, left, top,
                   width - left - right, height - top - bottom)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_esc(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{_esc(title)}</title>",
        *_svg_bands(frame, bands),
        *_svg_y_axis(frame, ticks, y_format, y_label),
        *_svg_x_axis(frame),
    ]
    parts.extend(_svg_markers(frame, markers))
    if values:
        parts.extend(_svg_lines(frame, lines))
    else:
        parts.append(
            f'<text class="no-data" x="{left + frame.width / 2:.1f}" '
            f'y="{top + frame.height / 2:.1f}" text-anchor="middle">no data</text>'
        )
    kinds = list(dict.fromkeys(m.kind for m in markers))
    parts.extend(_svg_legend(lines, bool(bands), left, kinds))
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- chart data


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def downsample(points: Sequence[Point], bucket_s: int, how: str = "mean") -> list[Point]:
    """Merge points into bucket_s-second buckets (mean or max), placed at the bucket centre."""
    if bucket_s <= 1:
        return list(points)
    buckets: dict[float, list[float]] = {}
    for x, y in points:
        values = buckets.setdefault(math.floor(x / bucket_s) * bucket_s, [])
        if y is not None:
            values.append(y)
    merge: Callable[[list[float]], float] = max if how == "max" else _mean
    centre = (bucket_s - 1) / 2
    return [(start + centre, merge(values) if values else None)
            for start, values in buckets.items()]


def _bucket_seconds(series: Sequence[Mapping[str, Any]]) -> int:
    return max(1, math.ceil(len(series) / MAX_CHART_POINTS))


def _column(series: Sequence[Mapping[str, Any]], pick: Callable[[Mapping[str, Any]], Any]
            ) -> list[Point]:
    points: list[Point] = []
    for row in series:
        second = _num(row.get("second"))
        if second is not None:
            points.append((second, _num(pick(row))))
    return points


def _field(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row.get(key)


def _error_field(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: _section(row, "errors_by_class").get(name)


def _x_domain(summary: Mapping[str, Any], series: Sequence[Mapping[str, Any]]
              ) -> tuple[float, float]:
    seconds = [s for s in (_num(row.get("second")) for row in series) if s is not None]
    if seconds:
        lo, hi = min(seconds), max(seconds)
        return (lo, hi if hi > lo else lo + 1.0)
    return (0.0, max(_num(summary.get("duration_s")) or 1.0, 1.0))


def _fault_start_end(fault: Mapping[str, Any]) -> tuple[float | None, float | None]:
    start = _num(fault.get("start_s"))
    if start is None and "start_s" not in fault:
        return _num(fault.get("planned_start_s")), _num(fault.get("planned_end_s"))
    return start, _num(fault.get("end_s"))


def _fault_name(fault: Mapping[str, Any], index: int) -> str:
    number = _int(fault.get("number")) or index + 1
    label = fault.get("label")
    if label:
        return f"{number} · {label}"
    return f"{fault.get('type') or 'fault'}: {fault.get('target') or 'all'}"


def _fault_bands(summary: Mapping[str, Any], x_hi: float) -> list[ChartBand]:
    bands = []
    for index, fault in enumerate(_records(summary, "faults")):
        start, end = _fault_start_end(fault)
        if start is None:
            continue
        parts = [f"{fault.get('type') or 'fault'} on {fault.get('target') or 'all'}"]
        if fault.get("intensity") is not None:
            parts.append(f"intensity {fault['intensity']}")
        bands.append(ChartBand(start, end if end is not None else x_hi,
                               _fault_name(fault, index), " · ".join(parts)))
    return bands


def _fault_markers(summary: Mapping[str, Any]) -> list[ChartMarker]:
    markers = []
    for index, fault in enumerate(_records(summary, "faults")):
        name = _fault_name(fault, index)
        detected, recovered = _num(fault.get("detected_at_s")), _num(fault.get("recovered_at_s"))
        if detected is not None:
            after = _fmt_unit(fault.get("time_to_detect_s"), "s")
            markers.append(ChartMarker(detected, "detected", f"({name}, {after} after it began)"))
        if recovered is not None:
            after = _fmt_unit(fault.get("time_to_recover_s"), "s")
            markers.append(ChartMarker(recovered, "recovered",
                                       f"({name}, {after} after it ended)"))
    return markers


@dataclass(frozen=True)
class _ChartSpec:
    title: str
    caption: str
    svg: str


def _throughput_chart(series: Sequence[Mapping[str, Any]], common: dict[str, Any],
                      bucket: int) -> _ChartSpec:
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
    return _ChartSpec(title, "Requests per second, as scheduled and as sent; ok/s excludes "
                      "errors and timeouts.", svg)


def _latency_chart(series: Sequence[Mapping[str, Any]], common: dict[str, Any],
                   bucket: int) -> _ChartSpec:
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
    return _ChartSpec(title, f"Per-second percentiles from the intended send time ({scale}"
                      "worst second per bucket when downsampled).", svg)


def _errors_chart(series: Sequence[Mapping[str, Any]], common: dict[str, Any],
                  bucket: int) -> _ChartSpec:
    picks: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
        (name, _error_field(name)) for name in _error_classes(series)
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
    return _ChartSpec(title, "Failed requests per second by class; only classes that occurred "
                      "are drawn (peak second per bucket when downsampled).", svg)


def _accuracy_chart(series: Sequence[Mapping[str, Any]], common: dict[str, Any],
                    bucket: int) -> _ChartSpec:
    lines = [ChartLine("accuracy", "#059669",
                       downsample(_column(series, _field("accuracy")), bucket))]
    title = "Detection accuracy"
    svg = render_line_chart(lines, title=title, y_label="accuracy", y_min=None, y_max=1.0,
                            y_format=lambda v: f"{round(v * 100, 6):g}%", **common)
    return _ChartSpec(title, "Share of labelled transactions decided correctly per second.", svg)


def _charts(summary: Mapping[str, Any], series: Sequence[Mapping[str, Any]]) -> list[_ChartSpec]:
    ordered = sorted(series, key=lambda row: _num(row.get("second")) or 0.0)
    x_domain = _x_domain(summary, ordered)
    common: dict[str, Any] = {"x_domain": x_domain,
                              "bands": _fault_bands(summary, x_domain[1]),
                              "markers": _fault_markers(summary)}
    bucket = _bucket_seconds(ordered)
    charts = [build(ordered, common, bucket) for build in
              (_throughput_chart, _latency_chart, _errors_chart, _accuracy_chart)]
    if bucket > 1:
        note = f" Downsampled: each point summarises {bucket} s."
        charts = [_ChartSpec(c.title, c.caption + note, c.svg) for c in charts]
    return charts


# --------------------------------------------------------------------------- HTML pieces


class _Html(str):
    """Markup that is already escaped."""


def _cell(value: Any) -> str:
    return value if isinstance(value, _Html) else _esc(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _key_values(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _mark(passed: bool | None) -> _Html:
    if passed is None:
        return _Html('<span class="mark na">n/a</span>')
    return _Html('<span class="mark ok">✓</span>' if passed else '<span class="mark bad">✗</span>')


def _badge(passed: Any) -> _Html:
    if passed is True:
        return _Html('<span class="badge pass">PASS</span>')
    if passed is False:
        return _Html('<span class="badge fail">FAIL</span>')
    return _Html('<span class="badge na">n/a</span>')


def _card(title: str, body: str, extra_class: str = "") -> str:
    return f'<section class="card {extra_class}"><h2>{_esc(title)}</h2>{body}</section>'


def _empty(text: str) -> str:
    return f'<p class="empty">{_esc(text)}</p>'


def _header(summary: Mapping[str, Any]) -> str:
    duration = _num(summary.get("duration_s"))
    duration_text = _NA if duration is None else f"{format_number(duration)} s " \
        f"({format_clock(duration)})"
    meta = [
        ("Run ID", summary.get("run_id")), ("Target", summary.get("target")),
        ("Started", summary.get("started_at")), ("Ended", summary.get("ended_at")),
        ("Duration", duration_text),
        ("Time scale", format_number(summary.get("time_scale"))),
        ("Load scale", format_number(summary.get("load_scale"))),
        ("Seed", summary.get("seed")), ("Workers", summary.get("workers")),
        ("Status", summary.get("status")),
    ]
    items = "".join(
        f"<div><dt>{_esc(k)}</dt><dd>{_esc(_NA if v is None else v)}</dd></div>" for k, v in meta
    )
    description = summary.get("description")
    desc = f'<p class="description">{_esc(description)}</p>' if description else ""
    return (
        '<header class="card run-header"><p class="eyebrow">stresslab run report</p>'
        f"<h1>{_esc(summary.get('scenario') or 'unnamed scenario')}</h1>{desc}"
        f'<dl class="meta">{items}</dl></header>'
    )


def _verdict(summary: Mapping[str, Any]) -> str:
    criteria = _records(summary, "criteria")
    passed_count = sum(1 for c in criteria if c.get("passed") is True)
    status = summary.get("status")
    if status == "aborted":
        word, cls = "ABORTED", "aborted"
    elif summary.get("passed") is True and status == "completed":
        word, cls = "PASSED", "passed"
    else:
        word, cls = "FAILED", "failed"
    problems = _reconcile_failures(reconcile_counts(_section(summary, "counts")))
    notes = [f"{passed_count} of {len(criteria)} criteria passed", f"status: {status or _NA}"]
    failed = [_criterion_name(c) for c in criteria if c.get("passed") is False]
    if failed:
        notes.append("failed: " + ", ".join(failed[:3]) + (" …" if len(failed) > 3 else ""))
    faults = [f for f in _records(summary, "faults") if "passed" in f]
    if faults:
        recovered = sum(1 for f in faults if f.get("passed") is True)
        notes.insert(1, f"{recovered} of {len(faults)} faults passed")
    if problems:
        notes.append("counts do not reconcile")
    return (
        f'<section class="verdict {cls}"><span class="verdict-word">{word}</span>'
        f'<span class="verdict-detail">{_esc(" · ".join(notes))}</span></section>'
    )


def _kpi(label: str, value: str, detail: str) -> str:
    return (
        f'<div class="kpi"><div class="kpi-label">{_esc(label)}</div>'
        f'<div class="kpi-value">{_esc(value)}</div>'
        f'<div class="kpi-detail">{_esc(detail)}</div></div>'
    )


def _error_rate(counts: Mapping[str, Any]) -> float | None:
    sent = _num(counts.get("sent"))
    errors, timeouts = _num(counts.get("errors")), _num(counts.get("timeouts"))
    if not sent or errors is None:
        return None
    return (errors + (timeouts or 0.0)) / sent


def _key_numbers(summary: Mapping[str, Any]) -> str:
    load, counts = _section(summary, "load"), _section(summary, "counts")
    latency, accuracy = _section(summary, "latency_ms"), _section(summary, "accuracy")
    business = _section(summary, "business")
    currency = str(business.get("currency") or "")
    kpis = [
        _kpi("Achieved TPS", format_number(load.get("achieved_tps_avg")),
             f"target {format_number(load.get('target_tps_avg'))} · peak "
             f"{format_number(load.get('peak_tps'))} · rate error "
             f"{_fmt_signed_pct(load.get('rate_error_pct'))}"),
        _kpi("Latency p95", _fmt_unit(latency.get("p95"), "ms"),
             f"p50 {_fmt_unit(latency.get('p50'), 'ms')} · p99 "
             f"{_fmt_unit(latency.get('p99'), 'ms')} · max {_fmt_unit(latency.get('max'), 'ms')}"),
        _kpi("Error rate", _fmt_pct(_error_rate(counts)),
             f"{format_number(counts.get('errors'))} errors · "
             f"{format_number(counts.get('timeouts'))} timeouts"),
        _kpi("Dropped", format_number(counts.get("dropped")),
             f"of {format_number(counts.get('scheduled'))} scheduled"),
        _kpi("Accuracy", _fmt_pct(accuracy.get("accuracy")),
             f"precision {_fmt_pct(accuracy.get('precision'))} · recall "
             f"{_fmt_pct(accuracy.get('recall'))}"),
        _kpi("Fraud prevented", _fmt_money(business.get("fraud_prevented_amount"), currency),
             f"missed {_fmt_money(business.get('fraud_missed_amount'), currency)}"),
        _kpi("Cost per transaction",
             _fmt_money(business.get("cost_per_transaction"), currency, unit_cost=True),
             f"total {_fmt_money(business.get('total_cost'), currency)} · ROI "
             f"{_fmt_signed_pct(business.get('roi_pct'))}"),
    ]
    return f'<section class="kpis">{"".join(kpis)}</section>'


def _chart_cards(charts: Sequence[_ChartSpec]) -> str:
    return "".join(
        f'<section class="card chart-card"><h2>{_esc(c.title)}</h2>'
        f'<p class="caption">{_esc(c.caption)}</p>{c.svg}</section>'
        for c in charts
    )


def _criteria_section(summary: Mapping[str, Any]) -> str:
    criteria = _records(summary, "criteria")
    if not criteria:
        return _card("Success criteria", _empty("The scenario defines no success criteria."))
    rows = [(c.get("expr", "?"), c.get("window") or "run", format_number(c.get("observed")),
             _badge(c.get("passed"))) for c in criteria]
    return _card("Success criteria", _table(("Criterion", "Window", "Observed", "Verdict"), rows))


def _counts_section(summary: Mapping[str, Any]) -> str:
    counts = _section(summary, "counts")
    checks = reconcile_counts(counts)
    rows = [(c.identity, format_number(c.left), format_number(c.right), _mark(c.passed), c.note)
            for c in checks]
    table = _table(("Identity", "Left", "Right", "Holds", "Note"), rows)
    totals = [(key, format_number(counts.get(key))) for key in
              ("scheduled", "sent", "ok", "errors", "timeouts", "dropped", "undelivered",
               "target_received")]
    by_class = _section(counts, "errors_by_class")
    classes = [(f"errors: {k}", format_number(v)) for k, v in by_class.items()]
    body = f'<div class="split"><div>{table}</div><div>{_key_values(totals + classes)}</div></div>'
    return _card("Counts reconciliation", body)


def _confusion(accuracy: Mapping[str, Any]) -> str:
    get = accuracy.get
    rows = [
        ("actual fraud", format_number(get("tp")), format_number(get("fn"))),
        ("actual legitimate", format_number(get("fp")), format_number(get("tn"))),
    ]
    return _table(("", "flagged", "not flagged"), rows, "confusion")


def _accuracy_section(summary: Mapping[str, Any]) -> str:
    accuracy = _section(summary, "accuracy")
    if not accuracy:
        return _card("Detection accuracy", _empty("No labelled decisions: accuracy is n/a."))
    metrics = [("labelled", format_number(accuracy.get("labelled")))] + [
        (key.replace("_", " "), _fmt_pct(accuracy.get(key)))
        for key in ("accuracy", "precision", "recall", "false_positive_rate")
    ]
    decisions = _section(summary, "decisions")
    decision_rows = [(f"decision: {k}", format_number(v)) for k, v in decisions.items()]
    patterns = _section(accuracy, "by_pattern")
    pattern_rows = [
        (name, format_number(_section(patterns, name).get("seen")),
         format_number(_section(patterns, name).get("flagged")),
         _fmt_pct(_section(patterns, name).get("detection_rate")))
        for name in patterns
    ]
    pattern_html = (_table(("Pattern", "Seen", "Flagged", "Flag rate"), pattern_rows)
                    if pattern_rows else _empty("No per-pattern breakdown."))
    body = (
        f'<div class="split"><div>{_key_values(metrics + decision_rows)}</div>'
        f"<div><h3>Confusion matrix</h3>{_confusion(accuracy)}</div></div>"
        f"<h3>By pattern</h3>{pattern_html}"
    )
    return _card("Detection accuracy", body)


def _agents_section(summary: Mapping[str, Any]) -> str:
    agents = _section(summary, "agents")
    if not agents:
        return _card("Agents", _empty("The target reported no per-agent timings."))
    rows = []
    for name in agents:
        agent = _section(agents, name)
        rows.append((name, format_number(agent.get("calls")), _fmt_unit(agent.get("avg_ms"), "ms"),
                     _fmt_unit(agent.get("p95_ms"), "ms"), format_number(agent.get("errors"))))
    return _card("Agents", _table(("Agent", "Calls", "Avg", "p95", "Errors"), rows))


def _business_section(summary: Mapping[str, Any]) -> str:
    business = _section(summary, "business")
    if not business:
        return _card("Business impact", _empty("No business metrics."))
    currency = str(business.get("currency") or "")
    rows = [
        ("Fraud detected (transactions)", format_number(business.get("fraud_detected"))),
        ("Fraud prevented", _fmt_money(business.get("fraud_prevented_amount"), currency)),
        ("Fraud missed", _fmt_money(business.get("fraud_missed_amount"), currency)),
        ("False-positive amount", _fmt_money(business.get("false_positive_amount"), currency)),
        ("Cost per transaction",
         _fmt_money(business.get("cost_per_transaction"), currency, unit_cost=True)),
        ("Total cost", _fmt_money(business.get("total_cost"), currency)),
        ("ROI", _fmt_signed_pct(business.get("roi_pct"))),
        ("Pricing source", business.get("pricing_source") or _NA),
    ]
    return _card("Business impact", _key_values(rows))


def _fault_verdict(fault: Mapping[str, Any]) -> _Html:
    if "passed" not in fault:
        return _Html('<span class="badge na">not measured</span>')
    if fault.get("passed") is None:
        return _Html('<span class="badge na">not injected</span>')
    return _badge(fault.get("passed"))


def _fault_why(fault: Mapping[str, Any]) -> str:
    """Why a fault failed, in a few words."""
    reasons = []
    if fault.get("passed") is None:
        return str(fault.get("status") or "")
    if fault.get("time_to_recover_s") is None:
        reasons.append("never recovered")
    lost = _int(fault.get("lost"))
    if lost:
        reasons.append(f"{lost:,} lost")
    failed = [f"{c.get('expr')} [{c.get('window')}]" for c in _records(fault, "criteria")
              if c.get("passed") is not True]
    reasons.extend(failed)
    return "; ".join(reasons)


def _clock_or_na(value: Any) -> str:
    number = _num(value)
    return _NA if number is None else format_clock(number)


def _fault_row(fault: Mapping[str, Any], index: int) -> list[Any]:
    detect, recover = fault.get("time_to_detect_s"), fault.get("time_to_recover_s")
    target = f"{fault.get('type') or _NA} · {fault.get('target') or 'all'}"
    if fault.get("intensity") is not None:
        target += f" · {format_number(fault.get('intensity'))}"
    start, end = _fault_start_end(fault)
    window = f"{_clock_or_na(start)}–{_clock_or_na(end)}"
    if fault.get("timing") == "planned":
        window += " (planned)"
    accuracy = " / ".join(_fmt_pct(fault.get(f"accuracy_{when}"))
                          for when in ("before", "during", "after"))
    budget = fault.get("error_budget_spent_pct")
    criteria = _records(fault, "criteria")
    met = sum(1 for c in criteria if c.get("passed") is True)
    measured = fault.get("passed") is not None
    return [
        _fault_name(fault, index), target, window,
        "not breached" if measured and detect is None else _fmt_unit(detect, "s"),
        "never" if measured and recover is None else _fmt_unit(recover, "s"),
        format_number(fault.get("affected")), format_number(fault.get("lost")),
        _NA if _num(budget) is None else f"{format_number(budget)}%", accuracy,
        f"{met} of {len(criteria)}" if criteria else "none",
        _fault_verdict(fault), _fault_why(fault),
    ]


def _resilience_section(summary: Mapping[str, Any]) -> str:
    faults = _records(summary, "faults")
    if not faults:
        return _card("Faults and recovery", _empty("No faults were injected."))
    rows = [_fault_row(fault, index) for index, fault in enumerate(faults)]
    headers = ["Fault", "Type · target · intensity", "Window", "Detected after",
               "Recovered after", "Affected", "Lost", "Error budget spent",
               "Accuracy before / during / after", "Own criteria", "Verdict", "Why"]
    if not any(row[-1] for row in rows):
        headers, rows = headers[:-1], [row[:-1] for row in rows]
    table = _table(headers, rows, "faults")
    baselines = []
    for index, fault in enumerate(faults):
        base = _section(fault, "baseline")
        if base:
            seconds = _int(base.get("seconds")) or 0
            text = (f"{seconds} s, errors {_fmt_pct(base.get('error_rate'))}, p95 "
                    f"{_fmt_unit(base.get('p95_ms'), 'ms')}") if base.get("error_rate") \
                is not None else f"none ({seconds} clean s before it): judged against a " \
                "clean target"
            baselines.append(f"{_fault_name(fault, index)}: {text}")
    caption = (
        "Detected: from the fault's start to the end of the first second outside its baseline "
        "(error rate above baseline + tolerance, or p95 above baseline × (1 + tolerance)). "
        "Recovered: from its end until the run stays within the baseline for consecutive "
        "seconds. Affected: errors and timeouts from its start until it recovered. Lost: sent "
        "but never answered. Error budget: affected against the run's allowed errors. A fault "
        "passes when it recovered, lost nothing and met its own criteria."
    )
    detail = "".join(f"<li>{_esc(line)}</li>" for line in baselines)
    body = (f'<p class="caption">{_esc(caption)}</p><div class="wide">{table}</div>'
            + (f"<h3>Baselines</h3><ul class=\"baselines\">{detail}</ul>" if detail else ""))
    return _card("Faults and recovery", body)


def _run_section(summary: Mapping[str, Any]) -> str:
    workers = _section(summary, "workers_report")
    failed = workers.get("failed") or []
    failed_text = ", ".join(
        json.dumps(w, sort_keys=True) if isinstance(w, Mapping) else str(w) for w in failed
    ) or "none"
    lag, load = _section(summary, "schedule_lag_ms"), _section(summary, "load")
    rows = [
        ("Workers expected", format_number(workers.get("expected"))),
        ("Workers finished", format_number(workers.get("finished"))),
        ("Workers failed", failed_text),
        ("Target TPS (avg)", format_number(load.get("target_tps_avg"))),
        ("Peak TPS", format_number(load.get("peak_tps"))),
        ("Rate error", _fmt_signed_pct(load.get("rate_error_pct"))),
        ("Schedule lag p50 / p99 / max",
         " / ".join(_fmt_unit(lag.get(k), "ms") for k in ("p50", "p99", "max"))),
    ]
    return _card("Workers and load generation", _key_values(rows))


def _notes_section(summary: Mapping[str, Any]) -> str:
    notes = summary.get("notes")
    if not isinstance(notes, list) or not notes:
        return ""
    return _card("Notes", "<ul>" + "".join(f"<li>{_esc(note)}</li>" for note in notes) + "</ul>")


_CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f1f5f9;--card:#fff;
--ok:#15803d;--bad:#b91c1c;--warn:#b45309}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.page{max-width:1200px;margin:0 auto;padding:24px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;
margin:0 0 16px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
h1{margin:0 0 4px;font-size:26px}h2{margin:0 0 10px;font-size:17px}
h3{margin:14px 0 6px;font-size:14px;color:var(--muted)}
.eyebrow{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:11px;color:var(--muted)}
.description{margin:0 0 12px;color:#334155}
.meta{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:8px 16px;margin:0}
.meta dt{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
.meta dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.verdict{display:flex;align-items:baseline;gap:16px;border-radius:10px;padding:14px 22px;
margin:0 0 16px;color:#fff}
.verdict.passed{background:var(--ok)}.verdict.failed{background:var(--bad)}
.verdict.aborted{background:var(--warn)}
.verdict-word{font-size:24px;font-weight:800;letter-spacing:.06em}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;
margin:0 0 16px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.kpi-label{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.kpi-value{font-size:22px;font-weight:700;font-variant-numeric:tabular-nums}
.kpi-detail{font-size:12px;color:var(--muted)}
.caption{margin:-6px 0 6px;color:var(--muted);font-size:12px}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#e2e8f0;stroke-width:1}svg .axis{stroke:#94a3b8;stroke-width:1}
svg .tick,svg .legend{font-size:11px;fill:#475569}
svg .axis-title{font-size:11px;fill:#64748b}
svg .no-data{font-size:14px;fill:#94a3b8}
svg .fault-band rect,svg .fault-swatch{fill:#f97316;fill-opacity:.14;stroke:#f97316;
stroke-opacity:.45}
svg .fault-band text{font-size:11px;fill:#9a3412}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
table.kv th{font-weight:500;color:#334155;width:55%}
table.confusion td,table.confusion th{text-align:center}
.split{display:grid;grid-template-columns:1fr 1fr;gap:24px}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-size:12px;font-weight:700}
.badge.pass{background:#dcfce7;color:var(--ok)}.badge.fail{background:#fee2e2;color:var(--bad)}
.badge.na,.mark.na{color:var(--muted)}
.mark{font-weight:700;font-size:16px}.mark.ok{color:var(--ok)}.mark.bad{color:var(--bad)}
.empty{color:var(--muted);margin:0}
.wide{overflow-x:auto}table.faults td,table.faults th{padding:6px 7px;font-size:13px}
ul.baselines{margin:0;padding-left:18px;color:#334155;font-size:13px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px}
@media (max-width:900px){.meta{grid-template-columns:repeat(2,1fr)}.split{display:block}}
@media print{body{background:#fff}.page{padding:0;max-width:none}
.card,.kpi,.verdict{box-shadow:none;break-inside:avoid}
.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def render_report_html(summary: Mapping[str, Any], series: Sequence[Mapping[str, Any]]) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts, no external resources."""
    title = f"stresslab · {summary.get('scenario') or 'run'} · {summary.get('run_id') or ''}"
    body = "".join((
        _header(summary),
        _verdict(summary),
        _key_numbers(summary),
        _chart_cards(_charts(summary, series)),
        _resilience_section(summary),
        _criteria_section(summary),
        _counts_section(summary),
        _accuracy_section(summary),
        _agents_section(summary),
        _business_section(summary),
        _run_section(summary),
        _notes_section(summary),
    ))
    footer = (f"<footer>{_esc(summary.get('schema') or 'stresslab.judgement.summary')} · "
              f"{len(series)} per-second rows · generated by stresslab</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title.strip(' ·'))}</title><style>{_CSS}</style></head>\n"
        f'<body><main class="page">{body}{footer}</main></body></html>\n'
    )


# --------------------------------------------------------------------------- files


def write_outputs(
    out_dir: Path, summary: Mapping[str, Any], series: Sequence[Mapping[str, Any]]
) -> dict[str, Path]:
    """Write summary.json, timeseries.csv, report.html and junit.xml into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
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
