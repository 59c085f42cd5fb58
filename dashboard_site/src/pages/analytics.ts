/** Analytics: throughput, accuracy under load, latency percentiles, errors, pattern detection. */

import { errorRate, faultWindows, patternMatrix } from "../derive";
import { errorClassLabel, formatClock, formatInt, formatMs, formatPct, humanize } from "../format";
import type { LiveState } from "../live";
import type { Tick } from "../protocol";
import {
  baseOption, type Chart, chartPanel, UPDATE, COLORS, faultAreas, SERIES_COLORS, timeAxis,
  valueAxis,
} from "../ui/charts";
import { BaselineGhost } from "../ui/baseline_picker";
import { h } from "../ui/dom";
import { boot, type PageContext } from "../ui/shell";
import { StatStrip } from "../ui/stats";
import { patternTooltip } from "../ui/tooltips";

const charts: Record<string, Chart> = {};
let stats: StatStrip;
let waiting: HTMLElement;
let ghost: BaselineGhost;
let lastState: LiveState | null = null;

function setup(ctx: PageContext): void {
  // On AWS every read of the control API needs an operator: a viewer's page offers no baseline.
  const local = ctx.config.mode !== "aws";
  ghost = new BaselineGhost(ctx.api, local || ctx.session?.bearer() != null,
                            () => { if (lastState) render(lastState); }, local);
  stats = new StatStrip([
    { id: "current-tps", label: "Current TPS", format: formatInt },
    { id: "peak-tps", label: "Peak TPS", format: formatInt },
    { id: "elapsed", label: "Elapsed", format: formatClock },
    { id: "error-rate", label: "Error rate", format: (v) => formatPct(v, 2) },
    { id: "p95", label: "p95 latency", format: formatMs },
    { id: "accuracy", label: "Accuracy", format: (v) => formatPct(v, 1) },
  ]);
  waiting = h("div", { class: "waiting-banner", "data-testid": "waiting" },
    "Waiting for a run: charts fill in as soon as the first second is measured.");
  ctx.main.append(
    h("div", { class: "page-title-row" },
      h("h1", { class: "page-title" }, "Stress test analytics"),
      h("div", { class: "page-sub", "data-role": "run-sub" }, ""),
      ghost.element),
    waiting,
    stats.element,
    h("div", { class: "grid-2 fill" },
      chartPanel(charts, "accuracy-load", "Accuracy under load", "TPS and decision accuracy per second"),
      chartPanel(charts, "latency", "Latency", "p50 / p95 / p99 per second, from the intended send time"),
      chartPanel(charts, "errors", "Errors by class", "per second; timeouts and drops included"),
      chartPanel(charts, "patterns", "Pattern detection", "flagged ÷ seen per fraud pattern and time"),
    ),
  );
}

function lineSeries(name: string, data: [number, number | null][], color: string,
                    extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name, type: "line", data, showSymbol: false, smooth: 0.2, connectNulls: false,
    lineStyle: { width: 2, color }, itemStyle: { color }, sampling: "lttb", ...extra,
  };
}

function render(state: LiveState): void {
  const history = state.history;
  const tick: Tick | null = state.latest;
  const run = state.run;
  lastState = state;
  ghost.follow(run);
  waiting.hidden = !!tick;
  const sub = document.querySelector("[data-role=run-sub]");
  if (sub) {
    sub.textContent = run
      ? `${run.scenario} · ${run.status} · planned ${formatClock(run.duration_s)} at up to ${
          formatInt(run.peak_tps)} TPS · time ×${run.time_scale} load ×${run.load_scale}`
      : "no run yet";
  }
  if (tick) {
    const rate = errorRate(tick.totals);
    stats.set("current-tps", tick.window.ok, `${formatInt(tick.window.sent)} sent · target ${
      formatInt(tick.window.target_tps)}`);
    stats.set("peak-tps", tick.totals.peak_tps, "highest sent in one second");
    stats.set("elapsed", tick.elapsed_s, run ? `of ${formatClock(run.duration_s)} planned` : "");
    stats.set("error-rate", rate === null ? null : rate * 100,
      `${formatInt(tick.totals.errors + tick.totals.timeouts)} of ${formatInt(tick.totals.sent)} · ${
        formatInt(tick.totals.dropped)} dropped`);
    stats.set("p95", tick.totals.p95_ms, `p50 ${formatMs(tick.totals.p50_ms)} · p99 ${
      formatMs(tick.totals.p99_ms)}`);
    stats.set("accuracy", tick.totals.accuracy === null ? null : tick.totals.accuracy * 100,
      `precision ${formatPct((tick.totals.precision ?? NaN) * 100, 1)} · recall ${
        formatPct((tick.totals.recall ?? NaN) * 100, 1)}`);
  } else {
    for (const id of ["current-tps", "peak-tps", "elapsed", "error-rate", "p95", "accuracy"]) {
      stats.set(id, null, "waiting for a run");
    }
  }
  const now = tick?.elapsed_s ?? 0;
  const faults = faultWindows(run, state.events, history);
  const shading = faultAreas(faults, now);
  const xMax = run ? Math.max(run.duration_s, now, ghost.end(run)) : ghost.end(run) || undefined;
  const t = (tick: Tick) => tick.second;
  charts["accuracy-load"]!.setOption({
    ...baseOption(),
    grid: { left: 56, right: 56, top: 46, bottom: 30 },
    xAxis: timeAxis(xMax),
    yAxis: [valueAxis("TPS"), valueAxis("accuracy %", { min: 0, max: 100, position: "right",
      splitLine: { show: false }, nameTextStyle: { color: COLORS.faint, align: "right" } })],
    series: [
      lineSeries("planned", (run?.expected_per_second ?? []).map((v, i) => [i, v]), COLORS.faint,
        { lineStyle: { width: 1.5, type: "dashed", color: COLORS.faint }, smooth: false,
          markArea: shading }),
      lineSeries("answered", history.map((x) => [t(x), x.window.ok]), COLORS.sky,
        { areaStyle: { color: "rgba(56,189,248,0.12)" } }),
      lineSeries("accuracy", history.map((x) => [t(x), x.window.accuracy === null ? null
        : x.window.accuracy * 100]), COLORS.violet, { yAxisIndex: 1 }),
      // the baseline last, so its long legend name ends the legend; z keeps it behind
      ...ghost.lines(run, [["ok", COLORS.sky, (s) => s.ok]]),
    ],
  }, UPDATE);
  charts.latency!.setOption({
    ...baseOption(),
    xAxis: timeAxis(xMax),
    yAxis: valueAxis("ms"),
    series: [
      lineSeries("p50", history.map((x) => [t(x), x.window.p50_ms]), COLORS.green,
        { markArea: shading }),
      lineSeries("p95", history.map((x) => [t(x), x.window.p95_ms]), COLORS.amber),
      lineSeries("p99", history.map((x) => [t(x), x.window.p99_ms]), COLORS.red),
      ...ghost.lines(run, [["p50", COLORS.green, (s) => s.p50_ms],
                           ["p95", COLORS.amber, (s) => s.p95_ms],
                           ["p99", COLORS.red, (s) => s.p99_ms]]),
    ],
  }, UPDATE);
  ghost.expose(run, charts, ["accuracy-load", "latency"]);
  const classes = new Set<string>();
  for (const x of history) {
    for (const [name, n] of Object.entries(x.window.errors_by_class ?? {})) if (n) classes.add(name);
  }
  const errorSeries = [...classes].sort().map((name, i) => ({
    name: errorClassLabel(name), type: "bar", stack: "errors", barMaxWidth: 8,
    itemStyle: { color: SERIES_COLORS[(i + 3) % SERIES_COLORS.length] },
    data: history.map((x) => [t(x), x.window.errors_by_class?.[name] ?? 0]),
  }));
  const totalsOf = (pick: (x: Tick) => number) => history.map((x) => [t(x), pick(x)]);
  charts.errors!.setOption({
    ...baseOption(),
    xAxis: timeAxis(xMax),
    yAxis: valueAxis("per second", { minInterval: 1 }),
    series: [
      { name: "timeouts", type: "bar", stack: "errors", barMaxWidth: 8,
        itemStyle: { color: COLORS.orange }, data: totalsOf((x) => x.window.timeouts),
        markArea: shading },
      { name: "dropped", type: "bar", stack: "errors", barMaxWidth: 8,
        itemStyle: { color: COLORS.faint }, data: totalsOf((x) => x.window.dropped) },
      ...errorSeries,
    ],
  }, UPDATE);
  const matrix = patternMatrix(history);
  charts.patterns!.setOption({
    ...baseOption(),
    tooltip: {
      ...(baseOption().tooltip as object), trigger: "item",
      formatter: (p: { data: [number, number, number | null, number] }) => {
        const [b, pi, rate, seen] = p.data;
        return patternTooltip(matrix.patterns[pi] ?? "", matrix.buckets[b], rate, seen);
      },
    },
    grid: { left: 150, right: 70, top: 12, bottom: 30 },
    xAxis: { type: "category", data: matrix.buckets.map((b) => formatClock(b[0])),
             axisLabel: { color: COLORS.faint, hideOverlap: true },
             axisLine: { lineStyle: { color: COLORS.axis } }, splitArea: { show: false } },
    yAxis: { type: "category", data: matrix.patterns.map(humanize),
             axisLabel: { color: COLORS.muted }, axisLine: { show: false } },
    visualMap: {
      min: 0, max: 100, calculable: false, orient: "vertical", right: 4, top: "middle",
      itemHeight: 140, itemWidth: 10, text: ["100%", "0%"], dimension: 2,
      textStyle: { color: COLORS.faint, fontSize: 11 },
      inRange: { color: ["#7f1d1d", "#b45309", "#ca8a04", "#0f766e", "#34d399"] },
      outOfRange: { color: "rgba(148,163,184,0.06)" },
    },
    series: [{
      type: "heatmap", data: matrix.cells.map((c) => (c[2] === null ? [c[0], c[1], "-", 0] : c)),
      itemStyle: { borderColor: "#0b1220", borderWidth: 2, borderRadius: 3 },
      emphasis: { itemStyle: { borderColor: COLORS.text } },
    }],
  }, UPDATE);
  const heat = document.querySelector<HTMLElement>("[data-testid=chart-patterns]");
  if (heat) heat.dataset.cells = String(matrix.cells.filter((c) => c[2] !== null).length);
  const shaded = document.querySelectorAll<HTMLElement>("[data-testid^=chart-]");
  shaded.forEach((el) => {
    el.dataset.faults = String(faults.filter((f) => !f.planned).length);
    el.dataset.faultsPlanned = String(faults.filter((f) => f.planned).length);
    el.dataset.seconds = String(history.length);
  });
}

void boot("analytics", setup, render);
