/** Side work that did not go as planned (run_note events), as every page's header shows it. */

import type { LiveState } from "./live";

/** How long a note stays in the header after it was raised, in run seconds. */
export const NOTE_SHOWN_S = 30;

export interface RunNoteBanner {
  text: string;
  /** Tooltip: every note of the run so far, oldest first. */
  title: string;
}

/**
 * The latest note of the run while it is recent (within NOTE_SHOWN_S of the latest tick), or
 * null. The run goes on whatever a note says; the summary keeps them all.
 */
export function runNoteBanner(state: LiveState): RunNoteBanner | null {
  const notes = state.events.filter((e) => e.event === "run_note" &&
    typeof e.detail.message === "string");
  const latest = notes.at(-1);
  if (!latest) return null;
  const now = state.latest?.elapsed_s ?? latest.at_s;
  if (now - latest.at_s > NOTE_SHOWN_S) return null;
  const more = notes.length > 1 ? ` (${notes.length} notes)` : "";
  return {
    text: `${String(latest.detail.message)}${more}`,
    title: notes.map((e) => `${Math.round(e.at_s)} s: ${String(e.detail.message)}`).join("\n"),
  };
}
