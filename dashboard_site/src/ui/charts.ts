/** ECharts, imported piece by piece, with the site's dark look and fault shading. */

import { BarChart, HeatmapChart, LineChart, PieChart } from "echarts/charts";
import {
  GridComponent, LegendComponent, MarkAreaComponent, TooltipComponent, VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

import type { FaultWindow } from "../derive";
import { formatClock } from "../format";
import { h } from "./dom";

echarts.use([
  LineChart, BarChart, HeatmapChart, PieChart, GridComponent, TooltipComponent,
  LegendComponent, MarkAreaComponent, VisualMapComponent, CanvasRenderer,
]);

export type Chart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

export const COLORS = {
  text: "#e6edf7",
  muted: "#8b97ab",
  faint: "#5b6679",
  grid: "rgba(148, 163, 184, 0.10)",
  axis: "rgba(148, 163, 184, 0.25)",
  sky: "#38bdf8",
  cyan: "#22d3ee",
  violet: "#a78bfa",
  green: "#34d399",
  amber: "#fbbf24",
  red: "#fb7185",
  orange: "#fb923c",
  blue: "#60a5fa",
  pink: "#f472b6",
  fault: "rgba(251, 113, 133, 0.13)",
  faultPlanned: "rgba(251, 113, 133, 0.05)",
};

export const SERIES_COLORS = [COLORS.sky, COLORS.violet, COLORS.green, COLORS.amber,
  COLORS.pink, COLORS.orange, COLORS.cyan, COLORS.blue];

const FONT = "'Inter Variable', Inter, system-ui, sans-serif";

/** How every page updates its charts each second: series replaced, drawn on the next frame. */
export const UPDATE = { replaceMerge: ["series"], lazyUpdate: true };

/** A chart in `element` that follows the element's size. */
export function makeChart(element: HTMLElement): Chart {
  const chart = echarts.init(element, undefined, { renderer: "canvas" });
  new ResizeObserver(() => chart.resize()).observe(element);
  return chart;
}

/** A titled panel holding a new chart, kept in `charts` under `id` (testid `chart-<id>`). */
export function chartPanel(charts: Record<string, Chart>, id: string, title: string,
                           hint: string): HTMLElement {
  const box = h("div", { class: "chart", "data-testid": `chart-${id}` });
  charts[id] = makeChart(box);
  return h("section", { class: "panel chart-panel" },
    h("h2", { class: "panel-title" }, title, h("span", { class: "hint" }, hint)), box);
}

export function baseOption(): Option {
  return {
    backgroundColor: "transparent",
    textStyle: { fontFamily: FONT, color: COLORS.muted },
    color: SERIES_COLORS,
    // Charts change every second; animating each change costs frames the update latency needs.
    animation: false,
    grid: { left: 56, right: 20, top: 46, bottom: 30, containLabel: false },
    tooltip: {
      trigger: "axis",
      backgroundColor: "rgba(15, 22, 36, 0.96)",
      borderColor: "rgba(148, 163, 184, 0.25)",
      textStyle: { color: COLORS.text, fontFamily: FONT, fontSize: 12 },
      axisPointer: { lineStyle: { color: COLORS.axis } },
    },
    legend: {
      top: 0, left: "center", icon: "roundRect", itemWidth: 12, itemHeight: 4,
      textStyle: { color: COLORS.muted, fontFamily: FONT, fontSize: 12 },
    },
  };
}

/** A time axis in run seconds, labelled as a clock. */
export function timeAxis(max?: number): Record<string, unknown> {
  return {
    type: "value",
    min: 0,
    max: max ?? "dataMax",
    axisLine: { lineStyle: { color: COLORS.axis } },
    axisLabel: { color: COLORS.faint, formatter: (v: number) => formatClock(v), hideOverlap: true },
    splitLine: { show: false },
  };
}

export function valueAxis(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "value",
    name,
    nameTextStyle: { color: COLORS.faint, align: "left", padding: [0, 0, 0, -40] },
    axisLabel: { color: COLORS.faint },
    splitLine: { lineStyle: { color: COLORS.grid } },
    ...extra,
  };
}

/** Shaded fault windows for a series' markArea; active faults run to `now`. */
export function faultAreas(windows: FaultWindow[], now: number): Record<string, unknown> {
  return {
    silent: true,
    itemStyle: { color: COLORS.fault },
    label: { color: COLORS.red, fontSize: 11, position: "insideTop", fontFamily: FONT },
    data: windows.map((w) => [
      {
        name: w.planned ? `${w.label} (planned)` : w.label,
        xAxis: w.start_s,
        itemStyle: { color: w.planned ? COLORS.faultPlanned : COLORS.fault },
        // a planned window and the fault it became start together: labels at opposite edges
        ...(w.planned ? { label: { position: "insideBottom" } } : {}),
      },
      { xAxis: w.end_s ?? Math.max(now, w.start_s + 1) },
    ]),
  };
}

/** A baseline run's line behind the live ones: faint, dashed, drawn first and never hovered.
 * Every ghost on a chart shares `name`, so the legend shows (and toggles) it once. */
export function ghostLine(name: string, data: [number, number | null][],
                          color: string): Record<string, unknown> {
  return {
    name, type: "line", data, z: 1, silent: true, showSymbol: false, smooth: false,
    connectNulls: false, animation: false,
    lineStyle: { width: 1.5, type: [6, 4], color, opacity: 0.45 },
    itemStyle: { color, opacity: 0.45 },
  };
}
