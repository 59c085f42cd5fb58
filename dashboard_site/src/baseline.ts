/** A baseline run for the analytics page: which finished runs can be overlaid, one run's stored
 * series, where its seconds fall on the live run's clock, and the choice kept in `?baseline=`. */

import { type ControlApi, ApiError, errorText } from "./api";
import type { BaselineList, BaselineRun, RunSeries, SeriesSecond } from "./generated/control";
import type { PhaseInfo } from "./protocol";

export type { BaselineRun, RunSeries, SeriesSecond } from "./generated/control";

export const BASELINE_PARAM = "baseline";

async function read<T>(api: ControlApi, path: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(api.shape(path));
  } catch (error) {
    throw new ApiError(0, `cannot reach the control API (${String(error)})`);
  }
  if (!response.ok) throw new ApiError(response.status, await errorText(response));
  return (await response.json()) as T;
}

/** Finished runs, the given scenario's first. */
export async function baselines(api: ControlApi, scenario: string | null): Promise<BaselineRun[]> {
  const query = scenario ? `?scenario=${encodeURIComponent(scenario)}` : "";
  return (await read<BaselineList>(api, `/baselines${query}`)).baselines ?? [];
}

export function runSeries(api: ControlApi, runId: string): Promise<RunSeries> {
  return read<RunSeries>(api, `/runs/${encodeURIComponent(runId)}/series`);
}

/** The baseline named in the address, or null. */
export function chosenBaseline(search: string = window.location.search): string | null {
  return new URLSearchParams(search).get(BASELINE_PARAM) || null;
}

/** Keep the choice in the address (so a reload keeps it), leaving the rest of it alone. */
export function rememberBaseline(runId: string | null, win: Window = window): void {
  const url = new URL(win.location.href);
  if (runId) url.searchParams.set(BASELINE_PARAM, runId);
  else url.searchParams.delete(BASELINE_PARAM);
  win.history.replaceState(win.history.state, "", url.pathname + url.search + url.hash);
}

export type Alignment = "elapsed" | "phase";

type Span = Pick<PhaseInfo, "name" | "start_s" | "end_s">;

/** How the baseline's seconds meet the live run's: by phase when both runs have the same
 * phases (by name, in order) of different lengths, each phase then starting where the live
 * one starts; otherwise by seconds since the start. */
export function alignment(base: Span[], live: Span[] | undefined): Alignment {
  if (!live || live.length === 0 || live.length !== base.length) return "elapsed";
  const sameNames = base.every((p, i) => p.name === live[i]!.name);
  const sameLengths = base.every((p, i) => p.start_s === live[i]!.start_s && p.end_s === live[i]!.end_s);
  return sameNames && !sameLengths ? "phase" : "elapsed";
}

/** One baseline value per second on the live run's clock: [x, value]; a second past the end
 * of its live phase is left out when aligned by phase. */
export function ghostPoints(series: RunSeries, live: Span[] | undefined,
                            pick: (s: SeriesSecond) => number | null): [number, number | null][] {
  const how = alignment(series.phases, live);
  const points: [number, number | null][] = [];
  for (const second of series.seconds) {
    let x: number | null = second.second;
    if (how === "phase") {
      const index = series.phases.findIndex((p) => p.name === second.phase);
      const from = series.phases[index];
      const to = live?.[index];
      if (from && to) {
        const into = second.second - from.start_s;
        x = into < to.end_s - to.start_s ? to.start_s + into : null;
      }
    }
    if (x !== null) points.push([x, pick(second)]);
  }
  return points;
}
