/** The analytics page's "Compare with" picker and the ghost lines of the baseline it chose. */

import type { ControlApi } from "../api";
import {
  alignment, type BaselineRun, baselines, chosenBaseline, ghostPoints, rememberBaseline,
  type RunSeries, runSeries, type SeriesSecond,
} from "../baseline";
import type { LiveRun } from "../protocol";
import { type Chart, ghostLine } from "./charts";
import { h } from "./dom";

type Points = [number, number | null][];
/** One ghost line: the series field it draws (also its cache key), its colour, its values. */
export type GhostSpec = [string, string, (s: SeriesSecond) => number | null];

export class BaselineGhost {
  /** The picker, or null when this page offers no baseline (a viewer on AWS). */
  readonly element: HTMLElement | null = null;
  private select: HTMLSelectElement | null = null;
  private note: HTMLElement | null = null;
  private id: string | null = null;
  private series: RunSeries | null = null;
  private listedFor: string | null = null;
  private listing: boolean;
  private run: LiveRun | null = null;
  private exposed = "";
  private cache = { key: "", points: new Map<string, Points>() };

  /** `eager`: list the baselines at once; otherwise when the picker is first used or one is
   * named in the address (on AWS each list is a Lambda call the page may never need). */
  constructor(private readonly api: ControlApi, offered: boolean,
              private readonly redraw: () => void, eager = true) {
    this.listing = eager;
    if (!offered) return;
    this.select = h("select", { "data-testid": "baseline-select",
                                "aria-label": "Compare with a baseline run",
                                style: "max-width: min(100%, 22rem)",
                                onfocus: () => this.wake(), onpointerdown: () => this.wake(),
                                onchange: () => this.choose(this.select!.value || null) },
      h("option", { value: "" }, "no baseline"));
    this.note = h("span", { class: "hint", "data-testid": "baseline-note", role: "status" });
    this.element = h("label", { class: "select-label", style: "max-width: 100%; flex-wrap: wrap" },
      "Compare with", this.select, this.note);
    this.id = chosenBaseline();
    if (this.id) {
      this.listing = true;
      void this.load(this.id);
    }
  }

  /** The legend name of every ghost line. */
  get name(): string {
    return this.series ? `baseline ${this.series.run_id}` : "";
  }

  /** At every render: list the baselines again when the page shows another run (or it ends). */
  follow(run: LiveRun | null): void {
    this.run = run;
    const key = run ? `${run.run_id}:${run.status}` : "";
    if (!this.select || !this.listing || this.listedFor === key) return;
    this.listedFor = key;
    void this.list(run?.scenario ?? null, run?.run_id ?? null);
  }

  /** The ghost lines for a chart, on the live run's clock; none without a baseline. */
  lines(run: LiveRun | null, specs: GhostSpec[]): Record<string, unknown>[] {
    return this.series
      ? specs.map(([field, color, pick]) => ghostLine(this.name, this.points(run, field, pick), color))
      : [];
  }

  /** Where the ghost's last second falls on the live run's clock (0 without a baseline). */
  end(run: LiveRun | null): number {
    const points = this.series ? this.points(run, "ok", (s) => s.ok) : [];
    return points.length ? points[points.length - 1]![0] : 0;
  }

  /** What the charts hold of the ghost, read back from them, on their elements (for tests and
   * tools): data-ghost, data-ghost-align, data-ghost-series. Only when the ghost changed. */
  expose(run: LiveRun | null, charts: Record<string, Chart>, ids: string[]): void {
    const key = this.series ? this.cache.key : "";
    if (this.exposed === key) return;
    this.exposed = key;
    for (const id of ids) {
      const el = document.querySelector<HTMLElement>(`[data-testid=chart-${id}]`);
      if (!el || !charts[id]) continue;
      const held = (charts[id].getOption().series as { name: string; data: unknown }[])
        .filter((x) => this.series && x.name === this.name);
      el.dataset.ghost = this.series?.run_id ?? "";
      el.dataset.ghostAlign = this.series ? alignment(this.series.phases, run?.phases) : "";
      el.dataset.ghostSeries = JSON.stringify(held.map((x) => ({ name: x.name, data: x.data })));
    }
  }

  private points(run: LiveRun | null, field: string,
                 pick: (s: SeriesSecond) => number | null): Points {
    if (!this.series) return [];
    const key = `${this.series.run_id}|${JSON.stringify(run?.phases ?? [])}`;
    if (this.cache.key !== key) this.cache = { key, points: new Map() };
    let points = this.cache.points.get(field);
    if (!points) {
      points = ghostPoints(this.series, run?.phases, pick);
      this.cache.points.set(field, points);
    }
    return points;
  }

  private wake(): void {
    if (this.listing) return;
    this.listing = true;
    this.follow(this.run);
  }

  private choose(runId: string | null): void {
    rememberBaseline(runId);
    this.id = runId;
    this.series = null;
    if (this.note) this.note.textContent = "";
    if (runId) void this.load(runId);
    this.redraw();
  }

  private async load(runId: string): Promise<void> {
    try {
      const series = await runSeries(this.api, runId);
      if (this.id === runId) this.series = series;
    } catch (error) {
      if (this.id === runId && this.note) {
        this.note.textContent = `baseline ${runId}: ${(error as Error).message}`;
      }
    }
    this.redraw();
  }

  private async list(scenario: string | null, shown: string | null): Promise<void> {
    let runs: BaselineRun[];
    try {
      runs = (await baselines(this.api, scenario)).filter((r) => r.run_id !== shown);
    } catch (error) {
      if (this.note) this.note.textContent = `baselines: ${(error as Error).message}`;
      return;
    }
    if (!this.select) return;
    const options = runs.map(option);
    if (this.id && !runs.some((r) => r.run_id === this.id)) {
      options.push(h("option", { value: this.id }, this.id));
    }
    this.select.replaceChildren(h("option", { value: "" }, "no baseline"), ...options);
    this.select.value = this.id ?? "";
  }
}

function option(run: BaselineRun): HTMLOptionElement {
  const when = run.started_at.replace("T", " ").slice(0, 16);
  return h("option", { value: run.run_id },
    `${run.run_id} · ${run.same_scenario ? "" : `${run.scenario} · `}${run.status} · ${when}`);
}
