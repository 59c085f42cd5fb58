"""capacity.html: one self-contained page charting a capacity search step by step."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stresslab.scenario.criteria import parse_threshold

COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "generator-limited": "#bf8700"}
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 20, 40

HEADLINES = {
    "found": "Capacity {capacity} TPS",
    "max-reached": "Capacity at least {capacity} TPS (every step up to max_tps passed)",
    "none-passed": "No capacity: even {start} TPS failed",
    "generator-limited": "Generator-limited: the load generator could not keep up",
    "incomplete": "Search incomplete",
}

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:780px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px}
.muted{color:#59636e}table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border-bottom:1px solid #d1d9e0;padding:3px 6px;text-align:right}
th:last-child,td:last-child{text-align:left}
td:nth-child(2){white-space:nowrap}.legend{font-size:12px;margin:0}
.passed{color:#1a7f37}.failed{color:#cf222e}.generator-limited{color:#bf8700}
svg text{font:11px system-ui,sans-serif;fill:#59636e}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}" if isinstance(value, float) and not value.is_integer() \
        else f"{value:,.0f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _tick_text(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:.3g}"


def _linear_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo if hi > lo else 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(count + 2) if start + i * step <= hi + step * 1e-9]


@dataclass
class Point:
    x: float
    y: float
    verdict: str
    label: str


@dataclass
class Chart:
    """A scatter (or bar) chart of steps, x and y in data units, with reference lines."""

    title: str
    x_label: str
    y_label: str
    points: list[Point]
    bars: bool = False
    log_allowed: bool = True  # a log y axis when values span more than 50x
    h_lines: list[tuple[float, str, str]] = field(default_factory=list)  # value, colour, label
    v_lines: list[tuple[float, str, str]] = field(default_factory=list)
    y_format: Callable[[float], str] = _tick_text

    def render(self) -> str:
        if not self.points:
            return f"<h2>{_esc(self.title)}</h2><p class=muted>no data</p>"
        xs = [p.x for p in self.points] + [v for v, _, _ in self.v_lines]
        ys = [p.y for p in self.points] + [v for v, _, _ in self.h_lines]
        positive = [y for y in ys if y > 0]
        log_y = self.log_allowed and not self.bars and bool(positive) \
            and max(positive) / min(positive) > 50
        x_lo, x_hi = (0.0, max(xs) + 1) if self.bars else (min(xs), max(xs))
        pad = (x_hi - x_lo) * 0.06 or 1.0
        x_lo, x_hi = (x_lo, x_hi) if self.bars else (x_lo - pad, x_hi + pad)
        if log_y:
            y_lo = 10 ** math.floor(math.log10(min(positive)))
            y_hi = 10 ** math.ceil(math.log10(max(positive)))
            ticks = [10.0 ** e for e in range(round(math.log10(y_lo)), round(math.log10(y_hi)) + 1)]
        else:
            y_lo, y_hi = 0.0, (max(ys) * 1.1 if max(ys) > 0 else 1.0)
            ticks = _linear_ticks(y_lo, y_hi)
            y_hi = max(y_hi, ticks[-1])

        def sx(x: float) -> float:
            return LEFT + (x - x_lo) / (x_hi - x_lo) * (WIDTH - LEFT - RIGHT)

        def sy(y: float) -> float:
            if log_y:
                y = max(y, y_lo)
                ratio = (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
            else:
                ratio = (y - y_lo) / (y_hi - y_lo)
            return HEIGHT - BOTTOM - ratio * (HEIGHT - TOP - BOTTOM)

        parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
                 f'aria-label="{_esc(self.title)}">']
        for tick in ticks:
            y = sy(tick)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                         'stroke="#eaeef2"/>')
            parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                         f"{_esc(self.y_format(tick))}</text>")
        if not self.bars:
            for tick in _linear_ticks(x_lo, x_hi):
                if x_lo <= tick <= x_hi:
                    parts.append(f'<text x="{sx(tick):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                                 f'text-anchor="middle">{_esc(_tick_text(tick))}</text>')
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">'
                     f"{_esc(self.x_label)}</text>")
        parts.append(f'<text x="{LEFT}" y="{TOP - 4}">{_esc(self.y_label)}</text>')
        parts += self._reference_lines(sx, sy)
        parts += self._marks(sx, sy)
        parts.append("</svg>")
        return f"<h2>{_esc(self.title)}</h2>" + "".join(parts) + self._legend()

    def _legend(self) -> str:
        keys = [f'<span style="color:{COLOURS[v]}">&#9679; {v}</span>'
                for v in COLOURS if any(p.verdict == v for p in self.points)]
        keys += [f'<span style="color:{colour}">{dash} {_esc(label)}</span>'
                 for lines, dash in ((self.h_lines, "&#8211; &#8211;"), (self.v_lines, "&#8942;"))
                 for _, colour, label in lines]
        return f"<p class=legend>{' &nbsp; '.join(keys)}</p>"

    def _reference_lines(
        self, sx: Callable[[float], float], sy: Callable[[float], float]
    ) -> list[str]:
        parts = []
        for value, colour, label in self.h_lines:
            y = sy(value)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="{colour}" stroke-dasharray="6 4"><title>{_esc(label)}</title>'
                         "</line>")
        for value, colour, label in self.v_lines:
            x = sx(value)
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                         f'stroke="{colour}" stroke-dasharray="2 3"><title>{_esc(label)}</title>'
                         "</line>")
        return parts

    def _marks(self, sx: Callable[[float], float], sy: Callable[[float], float]) -> list[str]:
        parts = []
        base = HEIGHT - BOTTOM
        width = max(4.0, min(36.0, (WIDTH - LEFT - RIGHT) / (len(self.points) + 1) * 0.7))
        for point in self.points:
            colour = COLOURS.get(point.verdict, "#59636e")
            title = f"<title>{_esc(point.label)}</title>"
            if self.bars:
                x, y = sx(point.x), sy(point.y)
                parts.append(f'<rect x="{x - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
                             f'height="{max(base - y, 0.5):.1f}" fill="{colour}">{title}</rect>')
                parts.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">'
                             f"{point.x:g}</text>")
            else:
                parts.append(f'<circle cx="{sx(point.x):.1f}" cy="{sy(point.y):.1f}" r="5" '
                             f'fill="{colour}">{title}</circle>')
        return parts


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


def _rate_lines(report: Mapping[str, Any]) -> list[tuple[float, str, str]]:
    lines = []
    if report.get("capacity_tps") is not None:
        lines.append((report["capacity_tps"], COLOURS["passed"],
                      f"capacity {_num(report['capacity_tps'])}"))
    if report.get("first_failing_tps") is not None:
        lines.append((report["first_failing_tps"], COLOURS["failed"],
                      f"first failing {_num(report['first_failing_tps'])}"))
    return lines


def _label(step: Mapping[str, Any]) -> str:
    observed = step.get("observed") or {}
    return (f"step {step['index']}: {_num(step['tps'])} TPS {step['verdict']}; "
            f"p95 {_num(observed.get('p95_ms'))} ms, errors {_pct(observed.get('error_rate'))}")


def build_charts(report: Mapping[str, Any]) -> list[Chart]:
    steps = report.get("steps") or []
    criteria = report.get("criteria") or []
    rate_lines = _rate_lines(report)

    def scatter(metric: str) -> list[Point]:
        return [Point(s["tps"], s["observed"][metric], s["verdict"], _label(s)) for s in steps
                if (s.get("observed") or {}).get(metric) is not None]

    sequence = Chart(
        "Rate at each step", "step", "TPS",
        [Point(float(s["index"]), s["tps"], s["verdict"], _label(s)) for s in steps], bars=True,
        h_lines=[(value, colour, label) for value, colour, label in rate_lines],
    )
    p95 = Chart(
        "p95 latency vs rate", "TPS", "p95 ms", scatter("p95_ms"),
        h_lines=[(v, "#59636e", f"p95 < {v:,g} ms") for v in _thresholds(criteria, "p95_ms")],
        v_lines=rate_lines,
    )
    errors = Chart(
        "Error rate vs rate", "TPS", "error rate", scatter("error_rate"),
        h_lines=[(v, "#59636e", f"error rate < {v * 100:g}%")
                 for v in _thresholds(criteria, "error_rate")],
        v_lines=rate_lines, y_format=lambda v: f"{v * 100:.3g}%", log_allowed=False,
    )
    return [sequence, p95, errors]


def _headline(report: Mapping[str, Any]) -> str:
    search = report.get("search") or {}
    template = HEADLINES.get(report.get("outcome", ""), "Capacity search")
    return template.format(capacity=_num(report.get("capacity_tps")),
                           start=_num(search.get("start_tps")))


def _step_rows(steps: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for step in steps:
        observed = step.get("observed") or {}
        why = "; ".join([*step.get("generator_issues", []), *step.get("failed_criteria", [])])
        rows.append(
            "<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in (
                step["index"], step["stage"], _num(step["tps"]), _num(step.get("achieved_tps")),
                _num(observed.get("p95_ms")), _num(observed.get("p99_ms")),
                _pct(observed.get("error_rate")), _num(step.get("dropped")),
                _num(step.get("lag_p99_ms")),
            )) + f'<td class="{_esc(step["verdict"])}">{_esc(step["verdict"])}'
            + (f" <span class=muted>({_esc(why)})</span>" if why else "") + "</td></tr>"
        )
    return "".join(rows)


def render_capacity_html(report: Mapping[str, Any]) -> str:
    """The capacity search as one page: headline, step charts, the steps table, notes."""
    search = report.get("search") or {}
    facts = [
        f"first failing {_num(report.get('first_failing_tps'))} TPS",
        f"resolution {_num(report.get('resolution_tps'))} TPS",
        f"steps of {_num(search.get('step_tps'))} TPS from {_num(search.get('start_tps'))} to "
        f"{_num(search.get('max_tps'))}, {_num(search.get('step_duration'))} s each, "
        f"{search.get('refine_steps')} refinement rounds",
    ]
    criteria = ", ".join(report.get("criteria") or []) or "none"
    notes = "".join(f"<li>{_esc(note)}</li>" for note in report.get("notes") or [])
    charts = "".join(chart.render() for chart in build_charts(report))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_esc(report.get('scenario'))}: capacity search</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{_esc(_headline(report))}</h1>"
        f"<p class=muted>{_esc(report.get('scenario'))} · {_esc(report.get('search_id'))} · "
        f"target {_esc(report.get('target'))} · {_esc(report.get('status'))}</p>"
        f"<p>{_esc('; '.join(facts))}</p><p>Judged on every step: {_esc(criteria)}. "
        "When the generator dropped arrivals or lagged, a step is held against the target only "
        "for what fails on its account alone (its errors, or latency beyond the generator's "
        "worst lag); otherwise it is generator-limited."
        f"</p>{f'<ul>{notes}</ul>' if notes else ''}{charts}"
        "<h2>Steps</h2><table><thead><tr><th>#</th><th>stage</th><th>TPS</th><th>achieved</th>"
        "<th>p95 ms</th><th>p99 ms</th><th>errors</th><th>dropped</th><th>lag p99 ms</th>"
        f"<th>verdict</th></tr></thead><tbody>{_step_rows(report.get('steps') or [])}"
        "</tbody></table></body></html>"
    )
