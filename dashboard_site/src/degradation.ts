/** The degradation level as every page's header shows it: what it is, why, what it does. */

import type { LiveState } from "./live";
import type { LiveEvent } from "./protocol";

export type DegradationLevel = "NONE" | "MODERATE" | "SEVERE" | "CRITICAL";

export interface DegradationBadge {
  level: DegradationLevel;
  text: string;
  /** Tooltip: what the level does to the platform and what moved it there. */
  title: string;
}

/** The strategy each level stands for (the reference service carries them out when applied). */
const STRATEGY: Record<DegradationLevel, string> = {
  NONE: "every agent runs",
  MODERATE: "non-critical agents shed",
  SEVERE: "fast path: core agents only",
  CRITICAL: "emergency rules, no agents",
};

/** The same, in words for an audience that does not know the levels. */
const PLAIN_WORDS: Record<DegradationLevel, string> = {
  NONE: "",
  MODERATE: "Running lean: optional checks paused to keep up with demand.",
  SEVERE: "Fast path: only the core checks run while the platform is slow.",
  CRITICAL: "Emergency rules keep every transaction decided while the platform recovers.",
};

/**
 * What the platform is doing about its state, in plain words: only when the level was applied
 * to the target (otherwise it is only observed, and nothing changed); "" at NONE.
 */
export function degradationInWords(state: LiveState): string {
  const level = asLevel(state.latest?.degradation);
  const change = latestChange(state);
  return change?.detail.applied === true && asLevel(change.detail.level) === level
    ? PLAIN_WORDS[level] : "";
}

function latestChange(state: LiveState): LiveEvent | undefined {
  const runId = state.latest?.run_id;
  return [...state.events].reverse().find(
    (e) => e.event === "degradation_changed" && e.run_id === runId);
}

function asLevel(value: unknown): DegradationLevel {
  return value === "MODERATE" || value === "SEVERE" || value === "CRITICAL" ? value : "NONE";
}

/** The badge for the run on screen; null before its first tick. */
export function degradationBadge(state: LiveState): DegradationBadge | null {
  const tick = state.latest;
  if (!tick) return null;
  const level = asLevel(tick.degradation);
  const change = latestChange(state);
  const parts = [`Degradation ${level}: ${STRATEGY[level]}`];
  if (change && asLevel(change.detail.level) === level) {
    const reason = typeof change.detail.reason === "string" ? ` (${change.detail.reason})` : "";
    parts.push(`since ${Math.round(change.at_s)} s${reason}`);
    if (change.detail.applied === false) parts.push("observed only: not applied to the target");
  }
  return {
    level,
    text: level === "NONE" ? "Normal" : level,
    title: parts.join(" · "),
  };
}
