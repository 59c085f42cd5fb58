import { describe, expect, it } from "vitest";

import { degradationBadge, degradationInWords } from "../src/degradation";
import { EMPTY_STATE, type LiveState } from "../src/live";
import type { LiveEvent, Tick } from "../src/protocol";

function state(level: string, events: Partial<LiveEvent>[] = []): LiveState {
  const tick = { type: "tick", run_id: "r1", second: 4, degradation: level } as Tick;
  return {
    ...EMPTY_STATE, latest: tick, history: [tick],
    events: events.map((e) => ({ type: "event", run_id: "r1", event: "degradation_changed",
                                 at_s: 0, detail: {}, ...e }) as LiveEvent),
  };
}

describe("degradation badge", () => {
  it("is absent before the first tick", () => {
    expect(degradationBadge(EMPTY_STATE)).toBeNull();
  });
  it("reads Normal at NONE and names the level otherwise", () => {
    expect(degradationBadge(state("NONE"))).toMatchObject({ level: "NONE", text: "Normal" });
    expect(degradationBadge(state("SEVERE"))).toMatchObject({ level: "SEVERE", text: "SEVERE" });
    expect(degradationBadge(state("bogus"))?.level).toBe("NONE");
  });
  it("explains the strategy, and why and since when from the latest change", () => {
    const badge = degradationBadge(state("CRITICAL", [
      { at_s: 2, detail: { level: "MODERATE", reason: "target CPU 95% > 90%", applied: true } },
      { at_s: 5, detail: { level: "CRITICAL", reason: "error rate 40.0% > 10.0%",
                           applied: false } },
    ]));
    expect(badge?.title).toBe("Degradation CRITICAL: emergency rules, no agents · since 5 s "
      + "(error rate 40.0% > 10.0%) · observed only: not applied to the target");
  });
  it("ignores another run's changes", () => {
    const badge = degradationBadge(state("NONE", [
      { run_id: "r0", at_s: 9, detail: { level: "NONE", reason: "calm" } }]));
    expect(badge?.title).toBe("Degradation NONE: every agent runs");
  });
  it("says what the platform does, in plain words, only when degraded and applied", () => {
    const applied = (level: string, yes: boolean) =>
      state(level, [{ at_s: 3, detail: { level, reason: "r", applied: yes } }]);
    expect(degradationInWords(EMPTY_STATE)).toBe("");
    expect(degradationInWords(applied("NONE", true))).toBe("");
    expect(degradationInWords(applied("CRITICAL", true))).toContain("Emergency rules");
    expect(degradationInWords(applied("CRITICAL", false))).toBe("");
  });
});
