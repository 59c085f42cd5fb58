/** Agents: one card per agent, workload distribution, each agent's share of decision latency. */

import { agentErrorMatrix, faultWindows } from "../derive";
import { formatClock, formatInt, formatMs, formatPct, formatRate, humanize } from "../format";
import type { LiveState } from "../live";
import type { AgentLive, Tick } from "../protocol";
import {
  baseOption, type Chart, chartPanel, UPDATE, COLORS, faultAreas, SERIES_COLORS, timeAxis,
  valueAxis,
} from "../ui/charts";
import { h, setText } from "../ui/dom";
import { boot, type PageContext } from "../ui/shell";
import { agentHealthTooltip } from "../ui/tooltips";

const charts: Record<string, Chart> = {};
let cards: HTMLElement;
let waiting: HTMLElement;

const HEALTH_TEXT: Record<AgentLive["health"], string> = {
  healthy: "Healthy", degraded: "Degraded", down: "Down", unknown: "No calls",
};

function setup(ctx: PageContext): void {
  cards = h("section", { class: "grid-4", "data-testid": "agent-cards" });
  waiting = h("div", { class: "waiting-banner", "data-testid": "waiting" },
    "Waiting for a run: agents appear with the first calls the target reports.");
  ctx.main.append(
    h("div", { class: "page-title-row" },
      h("h1", { class: "page-title" }, "Agent performance under stress"),
      h("div", { class: "page-sub", "data-role": "run-sub" }, "")),
    waiting,
    cards,
    h("div", { class: "grid-3 fill", style: "margin-top:16px" },
      chartPanel(charts, "workload", "Workload distribution", "load per agent: calls in flight ÷ capacity"),
      chartPanel(charts, "agent-latency", "Agent latency", "average per agent per second"),
      chartPanel(charts, "latency-share", "Share of decision latency", "time spent per agent, run so far"),
      chartPanel(charts, "agent-health", "Health over time", "share of calls failing, per agent per second"),
      chartPanel(charts, "agent-p95", "Agent p95", "95th percentile per agent per second"),
      chartPanel(charts, "agent-errors", "Agent errors", "failed calls per agent per second"),
    ),
  );
}

function metric(key: string, testid: string): HTMLElement {
  return h("div", { class: "agent-metric" }, h("div", { class: "k" }, key),
    h("div", { class: "v", "data-testid": testid }, "—"));
}

const cardElements = new Map<string, HTMLElement>();

function ensureCard(name: string): HTMLElement {
  let element = cardElements.get(name);
  if (element) return element;
  const id = `agent-${name}`;
  element = h("article", { class: "panel agent-card", "data-testid": id },
    h("div", { class: "agent-head" },
      h("div", { class: "agent-name" }, humanize(name)),
      h("span", { class: "health", "data-role": "health" }, "")),
    h("div", { class: "agent-metrics" },
      h("div", { class: "agent-metric", style: "grid-column: span 2" },
        h("div", { class: "k", "data-role": "load" }, "Load"),
        h("div", { class: "bar" }, h("span", { "data-role": "load-bar", style: "width:0%" }))),
      metric("Average", `${id}-avg`),
      metric("p95", `${id}-p95`),
      metric("Errors", `${id}-errors`),
      metric("Error rate now", `${id}-error-rate`),
      metric("Calls", `${id}-calls`),
      metric("Share of time", `${id}-share`)));
  cardElements.set(name, element);
  return element;
}

function updateCard(agent: AgentLive, tick: Tick): HTMLElement {
  const element = ensureCard(agent.name);
  const id = `agent-${agent.name}`;
  const recent = tick.window.agents?.[agent.name];
  const recentErr = recent && recent.calls ? recent.errors / recent.calls : null;
  const load = agent.load_pct;
  element.dataset.health = agent.health;
  const health = element.querySelector<HTMLElement>("[data-role=health]")!;
  health.dataset.health = agent.health;
  setText(health, HEALTH_TEXT[agent.health]);
  setText(element.querySelector("[data-role=load]"),
    `Load ${load === null ? "(not reported)" : formatPct(load, 0)}`);
  element.querySelector<HTMLElement>("[data-role=load-bar]")!.style.width =
    `${Math.max(0, Math.min(100, load ?? 0))}%`;
  const put = (suffix: string, text: string) =>
    setText(element.querySelector(`[data-testid="${CSS.escape(`${id}-${suffix}`)}"]`), text);
  put("avg", formatMs(recent?.avg_ms ?? agent.avg_ms));
  put("p95", formatMs(recent?.p95_ms ?? agent.p95_ms));
  put("errors", formatInt(agent.errors));
  put("error-rate", formatRate(recentErr, 1));
  put("calls", formatInt(agent.calls));
  put("share", formatPct(agent.share_pct, 1));
  return element;
}

function render(state: LiveState): void {
  const tick = state.latest;
  const history = state.history;
  waiting.hidden = !!tick && tick.agents.length > 0;
  setText(document.querySelector("[data-role=run-sub]"), state.run
    ? `${state.run.scenario} · ${state.run.status} · degradation ${tick?.degradation ?? "—"}`
    : "no run yet");
  const agents = tick?.agents ?? [];
  const colorOf = new Map(agents.map((a, i) => [a.name, SERIES_COLORS[i % SERIES_COLORS.length]!]));
  const shown = tick ? agents.map((a) => updateCard(a, tick)) : [];
  if (shown.length !== cards.children.length || shown.some((el, i) => cards.children[i] !== el)) {
    cards.replaceChildren(...shown);
  }
  const now = tick?.elapsed_s ?? 0;
  const shading = faultAreas(faultWindows(state.run, state.events, history), now);
  const xMax = state.run ? Math.max(state.run.duration_s, now) : undefined;
  const names = agents.map((a) => a.name);
  const line = (name: string, i: number, pick: (x: Tick) => number | null) => ({
    name: humanize(name), type: "line", showSymbol: false, smooth: 0.2,
    lineStyle: { width: 2, color: colorOf.get(name) }, itemStyle: { color: colorOf.get(name) },
    data: history.map((x) => [x.second, pick(x)]), markArea: i === 0 ? shading : undefined,
  });
  const loadReported = history.some((x) => x.agents.some((a) => a.load_pct !== null));
  charts.workload!.setOption({
    ...baseOption(),
    xAxis: timeAxis(xMax),
    yAxis: loadReported ? valueAxis("load %", { min: 0 }) : valueAxis("calls/s", { min: 0 }),
    series: names.map((name, i) => line(name, i, loadReported
      ? (x) => x.agents.find((a) => a.name === name)?.load_pct ?? null
      : (x) => x.window.agents?.[name]?.calls ?? null)),
  }, UPDATE);
  charts["agent-latency"]!.setOption({
    ...baseOption(), xAxis: timeAxis(xMax), yAxis: valueAxis("ms", { min: 0 }),
    series: names.map((name, i) => line(name, i, (x) => x.window.agents?.[name]?.avg_ms ?? null)),
  }, UPDATE);
  charts["agent-p95"]!.setOption({
    ...baseOption(), xAxis: timeAxis(xMax), yAxis: valueAxis("ms", { min: 0 }),
    series: names.map((name, i) => line(name, i, (x) => x.window.agents?.[name]?.p95_ms ?? null)),
  }, UPDATE);
  charts["agent-errors"]!.setOption({
    ...baseOption(), xAxis: timeAxis(xMax), yAxis: valueAxis("per second", { minInterval: 1 }),
    series: names.map((name, i) => ({
      name: humanize(name), type: "bar", stack: "errors", barMaxWidth: 8,
      itemStyle: { color: colorOf.get(name) }, markArea: i === 0 ? shading : undefined,
      data: history.map((x) => [x.second, x.window.agents?.[name]?.errors ?? 0]),
    })),
  }, UPDATE);
  const matrix = agentErrorMatrix(history, names);
  charts["agent-health"]!.setOption({
    ...baseOption(),
    tooltip: { ...(baseOption().tooltip as object), trigger: "item",
      formatter: (p: { data: [number, number, number | string, number] }) =>
        agentHealthTooltip(names[p.data[1]] ?? "", matrix.buckets[p.data[0]], p.data[2],
                           p.data[3]) },
    grid: { left: 140, right: 20, top: 12, bottom: 30 },
    xAxis: { type: "category", data: matrix.buckets.map((b) => formatClock(b[0])),
             axisLabel: { color: COLORS.faint, hideOverlap: true },
             axisLine: { lineStyle: { color: COLORS.axis } } },
    yAxis: { type: "category", data: names.map(humanize), axisLabel: { color: COLORS.muted },
             axisLine: { show: false }, axisTick: { show: false } },
    visualMap: { show: false, min: 0, max: 50, dimension: 2,
                 inRange: { color: ["#0f766e", "#34d399", "#fbbf24", "#fb7185", "#e11d48"] },
                 outOfRange: { color: "rgba(148,163,184,0.06)" } },
    series: [{ type: "heatmap",
               data: matrix.cells.map((c) => (c[2] === null ? [c[0], c[1], "-", 0] : c)),
               itemStyle: { borderColor: "#0b1220", borderWidth: 1, borderRadius: 2 } }],
  }, UPDATE);
  const shares = agents.filter((a) => a.share_pct !== null);
  charts["latency-share"]!.setOption({
    ...baseOption(),
    tooltip: { ...(baseOption().tooltip as object), trigger: "item",
               valueFormatter: (v: number) => formatPct(v, 1) },
    legend: { show: false },
    series: [{
      type: "pie", radius: ["52%", "78%"], center: ["50%", "52%"], padAngle: 2,
      itemStyle: { borderRadius: 6, borderColor: "#0b1220", borderWidth: 2 },
      label: { color: COLORS.muted, formatter: "{b}\n{c}%", fontSize: 12, lineHeight: 18 },
      labelLine: { lineStyle: { color: COLORS.axis } },
      data: shares.map((a) => ({ name: humanize(a.name), value: a.share_pct,
                                 itemStyle: { color: colorOf.get(a.name) } })),
    }],
  }, UPDATE);
}

void boot("agents", setup, render);
