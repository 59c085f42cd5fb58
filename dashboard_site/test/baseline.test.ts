import { describe, expect, it } from "vitest";

import { alignment, chosenBaseline, ghostPoints, type RunSeries, type SeriesSecond } from "../src/baseline";

function second(n: number, phase: string | null, ok: number): SeriesSecond {
  return { second: n, phase, target_tps: 10, sent: ok, ok, errors: 0, timeouts: 0, dropped: 0,
           errors_by_class: {}, error_rate: 0, p50_ms: n + 0.5, p95_ms: null, p99_ms: 9, accuracy: 1 };
}

const base: RunSeries = {
  run_id: "A", scenario: "smoke", status: "completed", started_at: "", duration_s: 4,
  phases: [{ name: "warm", start_s: 0, end_s: 2 }, { name: "peak", start_s: 2, end_s: 4 }],
  seconds: [second(0, "warm", 10), second(1, "warm", 11), second(2, "peak", 20), second(3, "peak", 21)],
};

describe("a baseline's points on the live run's clock", () => {
  it("sits on elapsed seconds when the phases are the same", () => {
    expect(alignment(base.phases, base.phases)).toBe("elapsed");
    expect(ghostPoints(base, base.phases, (s) => s.ok)).toEqual([[0, 10], [1, 11], [2, 20], [3, 21]]);
    expect(ghostPoints(base, undefined, (s) => s.p95_ms)).toEqual(
      [[0, null], [1, null], [2, null], [3, null]]);
  });

  it("starts each phase where the live one starts when the same phases last differently", () => {
    const live = [{ name: "warm", start_s: 0, end_s: 5 }, { name: "peak", start_s: 5, end_s: 6 }];
    expect(alignment(base.phases, live)).toBe("phase");
    // peak's second second falls past the live peak's end: left out
    expect(ghostPoints(base, live, (s) => s.ok)).toEqual([[0, 10], [1, 11], [5, 20]]);
  });

  it("falls back to elapsed seconds when the phases do not match by name", () => {
    const live = [{ name: "ramp", start_s: 0, end_s: 5 }, { name: "peak", start_s: 5, end_s: 6 }];
    expect(alignment(base.phases, live)).toBe("elapsed");
    expect(ghostPoints(base, live, (s) => s.ok).map((p) => p[0])).toEqual([0, 1, 2, 3]);
  });
});

describe("the chosen baseline in the address", () => {
  it("is read from ?baseline=", () => {
    expect(chosenBaseline("?baseline=run-1&x=2")).toBe("run-1");
    expect(chosenBaseline("?baseline=")).toBeNull();
    expect(chosenBaseline("")).toBeNull();
  });
});
