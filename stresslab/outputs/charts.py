"""The one SVG chart engine of the outputs: scales (linear and log), ticks, and two chart kinds.

A time-series line chart (report.html: x in elapsed seconds, shaded fault windows, markers) and
a step chart (capacity.html: one dot or bar per capacity-search step, reference lines). Python
computes the geometry; templates/charts.svg.j2 draws it, escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from stresslab.outputs.format import format_axis_number, format_clock
from stresslab.outputs.rendering import render_markup

Point = tuple[float, float | None]

MARKER_COLORS: dict[str, str] = {"detected": "#dc2626", "recovered": "#15803d"}
VERDICT_COLORS: dict[str, str] = {
    "passed": "#1a7f37", "failed": "#cf222e", "generator-limited": "#bf8700",
}
_NEUTRAL = "#334155"
_TIME_STEPS: tuple[int, ...] = (
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600,
)


# --------------------------------------------------------------------------- scales and ticks


@dataclass(frozen=True)
class Frame:
    """The plot area in pixels and the data ranges it shows; y may be logarithmic."""

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
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def sx(self, x: float) -> float:
        return self.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * self.width

    def sy(self, y: float) -> float:
        if self.log_y:
            lo, hi, y = math.log10(self.y_lo), math.log10(self.y_hi), math.log10(max(y, self.y_lo))
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


def ticks_within(lo: float, hi: float) -> list[float]:
    """The round ticks that fall inside [lo, hi] (none beyond it)."""
    return [tick for tick in nice_ticks(lo, hi) if lo - 1e-9 <= tick <= hi + 1e-9]


def log_ticks(values: Sequence[float], dense_up_to_decades: int = 3) -> list[float]:
    """Powers of ten covering the positive values; 1-2-5 within each decade when few."""
    positive = [value for value in values if value > 0]
    if not positive:
        return [1.0, 10.0]
    lo_exp = math.floor(math.log10(min(positive)))
    hi_exp = max(math.ceil(math.log10(max(positive))), lo_exp + 1)
    multiples = (1, 2, 5) if hi_exp - lo_exp <= dense_up_to_decades else (1,)
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


def time_ticks(lo: float, hi: float) -> list[float]:
    """Ticks on whole, readable second steps (1 s … 6 h), at most about ten."""
    span = hi - lo
    step = next((s for s in _TIME_STEPS if span / s <= 10), _TIME_STEPS[-1])
    first = math.ceil(lo / step)
    return [float(i * step) for i in range(first, int(hi // step) + 1)]


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


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --------------------------------------------------------------------------- time-series chart


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


@dataclass(frozen=True)
class Tick:
    at: float  # pixels
    label: str


@dataclass(frozen=True)
class DrawnBand:
    x: float
    width: float
    label_y: float
    label: str
    tip: str


@dataclass(frozen=True)
class DrawnMarker:
    x: float
    kind: str
    color: str
    tip: str


@dataclass(frozen=True)
class Shape:
    """A piece of a drawn series: a lone point ("dot" at x, y) or a "polyline" through points."""

    kind: str
    x: float = 0.0
    y: float = 0.0
    points: str = ""


@dataclass(frozen=True)
class DrawnLine:
    label: str
    color: str
    dashed: bool
    shapes: list[Shape]


@dataclass(frozen=True)
class LegendKey:
    kind: str  # line, band, marker (time series); verdict, threshold, rate (steps)
    x: float
    label: str
    color: str = _NEUTRAL
    dashed: bool = False
    symbol: str = ""


def _segments(points: Sequence[Point], log_y: bool) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or (log_y and y <= 0):
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x, y))
    return [segment for segment in segments if segment]


def _drawn_line(frame: Frame, line: ChartLine) -> DrawnLine:
    shapes = []
    for segment in _segments(line.points, frame.log_y):
        if len(segment) == 1:
            x, y = segment[0]
            shapes.append(Shape("dot", frame.sx(x), frame.sy(y)))
        else:
            coords = " ".join(f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in segment)
            shapes.append(Shape("polyline", points=coords))
    return DrawnLine(line.label, line.color, line.dashed, shapes)


def _drawn_bands(frame: Frame, bands: Sequence[ChartBand]) -> list[DrawnBand]:
    drawn = []
    for index, band in enumerate(bands):
        start, end = max(band.start, frame.x_lo), min(band.end, frame.x_hi)
        if end < start:
            continue
        x = frame.sx(start)
        tip = f"{band.label}: {format_clock(band.start)}–{format_clock(band.end)} {band.detail}"
        drawn.append(DrawnBand(x, max(frame.sx(end) - x, 2.0), frame.top + 13 + 13 * (index % 3),
                               band.label, tip.strip()))
    return drawn


def _drawn_markers(frame: Frame, markers: Sequence[ChartMarker]) -> list[DrawnMarker]:
    return [
        DrawnMarker(frame.sx(marker.x), marker.kind, MARKER_COLORS.get(marker.kind, _NEUTRAL),
                    f"{marker.kind} at {format_clock(marker.x)} {marker.detail}".strip())
        for marker in markers if frame.x_lo <= marker.x <= frame.x_hi
    ]


def _legend(lines: Sequence[ChartLine], has_bands: bool, left: float,
            marker_kinds: Sequence[str]) -> list[LegendKey]:
    keys, x = [], left
    for line in lines:
        keys.append(LegendKey("line", x, line.label, line.color, line.dashed))
        x += 40 + 6.5 * len(line.label)
    if has_bands:
        keys.append(LegendKey("band", x, "fault window"))
        x += 40 + 6.5 * len("fault window")
    for kind in marker_kinds:
        keys.append(LegendKey("marker", x, kind, MARKER_COLORS.get(kind, _NEUTRAL)))
        x += 30 + 6.5 * len(kind)
    return keys


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
) -> Markup:
    """An inline SVG line chart: x in elapsed seconds, nice y ticks, legend, shaded bands,
    and vertical markers."""
    values = [y for line in lines for _, y in line.points if y is not None]
    if log_y:
        values = [value for value in values if value > 0]
    ticks = log_ticks(values) if log_y else _linear_ticks(values, y_min, y_max)
    x_lo, x_hi = x_domain or _x_extent(lines)
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    left, top, right, bottom = 64.0, 40.0, 20.0, 42.0
    frame = Frame(x_lo, x_hi, ticks[0], ticks[-1], log_y, left, top,
                  width - left - right, height - top - bottom)
    return render_markup(
        "line_chart.svg.j2", title=title, width=width, height=height, frame=frame,
        bands=_drawn_bands(frame, bands),
        y_ticks=[Tick(frame.sy(tick), y_format(tick)) for tick in ticks], y_label=y_label,
        x_ticks=[Tick(frame.sx(tick), format_clock(tick))
                 for tick in time_ticks(frame.x_lo, frame.x_hi)],
        markers=_drawn_markers(frame, markers),
        lines=[_drawn_line(frame, line) for line in lines] if values else None,
        legend=_legend(lines, bool(bands), left, list(dict.fromkeys(m.kind for m in markers))),
    )


# --------------------------------------------------------------------------- step chart


@dataclass(frozen=True)
class StepPoint:
    """One capacity-search step: where it is drawn, its verdict (the colour), its tooltip."""

    x: float
    y: float
    verdict: str
    label: str


@dataclass(frozen=True)
class ReferenceLine:
    """A horizontal or vertical line at a value, e.g. a criterion's threshold or the capacity."""

    value: float
    color: str
    label: str


@dataclass(frozen=True)
class StepChart:
    """A scatter (or bar) chart of steps, x and y in data units, with reference lines."""

    title: str
    x_label: str
    y_label: str
    points: list[StepPoint]
    bars: bool = False
    log_allowed: bool = True  # a log y axis when values span more than 50x
    h_lines: list[ReferenceLine] = field(default_factory=list)
    v_lines: list[ReferenceLine] = field(default_factory=list)
    y_format: Callable[[float], str] = lambda value: format_axis_number(value, significant=3)

    width = 720
    height = 260

    def render(self) -> Markup:
        if not self.points:
            return render_markup("step_chart.svg.j2", chart=self, frame=None)
        frame, y_ticks = self._frame()
        base = frame.bottom
        bar_width = max(4.0, min(36.0, frame.width / (len(self.points) + 1) * 0.7))
        x_ticks = [] if self.bars else [
            Tick(frame.sx(tick), format_axis_number(tick, significant=3))
            for tick in ticks_within(frame.x_lo, frame.x_hi)
        ]
        return render_markup(
            "step_chart.svg.j2", chart=self, frame=frame, base=base, bar_width=bar_width,
            y_ticks=[Tick(frame.sy(tick), self.y_format(tick)) for tick in y_ticks],
            x_ticks=x_ticks, colors=VERDICT_COLORS, neutral="#59636e", legend=self._legend(),
        )

    def _legend(self) -> list[LegendKey]:
        keys = [LegendKey("verdict", 0.0, verdict, color, symbol="\u25cf")
                for verdict, color in VERDICT_COLORS.items()
                if any(point.verdict == verdict for point in self.points)]
        keys += [LegendKey("threshold", 0.0, line.label, line.color, symbol="\u2013 \u2013")
                 for line in self.h_lines]
        keys += [LegendKey("rate", 0.0, line.label, line.color, symbol="\u22ee")
                 for line in self.v_lines]
        return keys

    def _frame(self) -> tuple[Frame, list[float]]:
        xs = [p.x for p in self.points] + [line.value for line in self.v_lines]
        ys = [p.y for p in self.points] + [line.value for line in self.h_lines]
        positive = [y for y in ys if y > 0]
        log_y = self.log_allowed and not self.bars and bool(positive) \
            and max(positive) / min(positive) > 50
        if self.bars:
            x_lo, x_hi = 0.0, max(xs) + 1
        else:
            pad = (max(xs) - min(xs)) * 0.06 or 1.0
            x_lo, x_hi = min(xs) - pad, max(xs) + pad
        if log_y:
            ticks = log_ticks(positive, dense_up_to_decades=0)
            y_lo, y_hi = ticks[0], ticks[-1]
        else:
            y_lo, y_hi = 0.0, (max(ys) * 1.1 if max(ys) > 0 else 1.0)
            ticks = ticks_within(y_lo, y_hi)
            y_hi = max(y_hi, ticks[-1])
        left, right, top, bottom = 64, 16, 20, 40
        return Frame(x_lo, x_hi, y_lo, y_hi, log_y, left, top, self.width - left - right,
                     self.height - top - bottom), ticks
