import { describe, expect, it } from "vitest";

import {
  agentErrorMatrix, baselineBefore, decisionShares, downtimeSeconds, faultWindows,
  interpolatedElapsed, patternMatrix, resilienceMoment, roi,
} from "../src/derive";
import { event, faultyHistory, run, tick, windowRow } from "./fixtures";

describe("decisionShares", () => {
  it("splits the window's decisions", () => {
    expect(decisionShares(windowRow(0))).toEqual({ approve: 0.8, review: 0.05, block: 0.15 });
  });
  it("is null without decisions, never a made-up split", () => {
    expect(decisionShares(windowRow(0, { decisions: {} }))).toBeNull();
  });
});

describe("downtime and roi", () => {
  it("counts seconds at or above 1% errors among seconds with traffic", () => {
    const history = [tick(0), tick(1, { errors: 1, ok: 99 }), tick(2, { sent: 0, ok: 0 })];
    expect(downtimeSeconds(history)).toEqual({ down: 1, counted: 2 });
  });
  it("compares money protected with what the checks cost", () => {
    expect(roi(500, 0.01, 1000)).toEqual({ cost: 10, multiple: 50 });
    expect(roi(500, 0, 1000).multiple).toBeNull();
  });
});

describe("faultWindows", () => {
  it("uses fault events when there are some and the plan for what has not happened", () => {
    const windows = faultWindows(run(), [
      event("fault_injected", 20.2, { key: "f0", label: "An AI agent fails" }),
      event("fault_cleared", 30.1, { key: "f0" }),
      event("fault_injected", 40, { key: "adhoc", type: "latency", target: "compliance" }),
    ], []);
    expect(windows).toEqual([
      expect.objectContaining({ key: "f0", start_s: 20.2, end_s: 30.1, planned: false }),
      expect.objectContaining({ key: "adhoc", type: "latency", start_s: 40, end_s: null }),
    ]);
  });
  it("shows planned faults as planned until they happen", () => {
    expect(faultWindows(run(), [], [])).toEqual([
      expect.objectContaining({ key: "f0", start_s: 20, end_s: 30, planned: true }),
    ]);
  });
  it("falls back to the seconds that report an active fault", () => {
    const windows = faultWindows(run(), [], faultyHistory(40, 20, 30));
    expect(windows).toEqual([
      expect.objectContaining({ key: "f0", start_s: 20, end_s: 30, planned: false }),
    ]);
  });
});

describe("resilienceMoment", () => {
  const events = [event("fault_injected", 20, { key: "f0" }), event("fault_cleared", 30, { key: "f0" })];

  it("is waiting, or names the planned failure, before any fault", () => {
    expect(resilienceMoment(null, [], []).stage).toBe("waiting");
    const planned = resilienceMoment(run(), [], [tick(0)]);
    expect(planned).toMatchObject({ stage: "planned", planned_at: 20 });
  });

  it("detects at the first second after injection that breaks the baseline", () => {
    const m = resilienceMoment(run(), events.slice(0, 1), faultyHistory(25, 20, 30));
    expect(m).toMatchObject({ stage: "detected", injected_at: 20, detected_at: 21,
                              detected_by: "errors" });
  });

  it("recovers at the first second after the clear that is back within the baseline", () => {
    const m = resilienceMoment(run(), events, faultyHistory(40, 20, 30, 3));
    expect(m).toMatchObject({ stage: "recovered", detected_at: 21, cleared_at: 30,
                              recovered_at: 34 });
  });

  it("is recovering while seconds after the clear are still bad", () => {
    const m = resilienceMoment(run(), events, faultyHistory(32, 20, 30, 5));
    expect(m.stage).toBe("recovering");
  });

  it("notices a slowdown without errors", () => {
    const history = Array.from({ length: 30 }, (_, s) =>
      tick(s, s >= 20 ? { p95_ms: 400 } : { p95_ms: 40 }));
    const m = resilienceMoment(run(), events.slice(0, 1), history);
    expect(m).toMatchObject({ detected_at: 21, detected_by: "slowdown" });
  });

  it("takes an earlier criterion breach as the detection", () => {
    const m = resilienceMoment(run(), [...events.slice(0, 1),
      event("criterion_breached", 20.5, { criterion: "error_rate < 0.01 [run]" })],
      faultyHistory(25, 20, 30));
    expect(m).toMatchObject({ detected_at: 20.5, detected_by: "criterion" });
  });

  it("says a fault was absorbed when nothing ever breached", () => {
    const history = Array.from({ length: 40 }, (_, s) => tick(s));
    expect(resilienceMoment(run(), events, history).stage).toBe("absorbed");
  });

  it("derives the baseline from calm seconds before the fault", () => {
    const b = baselineBefore(faultyHistory(25, 20, 30), 20);
    expect(b).toMatchObject({ error_rate: 0, p95_ms: 40, error_threshold: 0.01,
                              p95_threshold_ms: 90 });
  });
});

describe("patternMatrix", () => {
  it("gives flagged ÷ seen per fraud pattern and time bucket, leaving legitimate labels out", () => {
    const m = patternMatrix([tick(0), tick(1, { patterns: { card_testing: [10, 5] } })]);
    expect(m.patterns).toEqual(["bust_out", "card_testing"]);
    expect(m.bucket_s).toBe(1);
    expect(m.cells).toContainEqual([0, 1, 90, 10]);
    expect(m.cells).toContainEqual([1, 1, 50, 10]);
    expect(m.cells).toContainEqual([1, 0, null, 0]);
  });
  it("widens buckets to keep the matrix readable", () => {
    const history = Array.from({ length: 300 }, (_, s) => tick(s));
    const m = patternMatrix(history, 30);
    expect(m.bucket_s).toBe(10);
    expect(m.buckets).toHaveLength(30);
    expect(m.cells).toContainEqual([0, 1, 90, 100]);
  });
});

describe("agentErrorMatrix", () => {
  it("gives the share of failed calls per agent and bucket", () => {
    const history = [tick(0), tick(1, { agents: { geographic_risk: { calls: 10, errors: 5,
                                                                     avg_ms: 1, p95_ms: 2 } } })];
    const m = agentErrorMatrix(history, ["geographic_risk", "compliance"]);
    expect(m.cells).toEqual([[0, 0, 0, 100], [0, 1, null, 0], [1, 0, 50, 10], [1, 1, null, 0]]);
  });
  it("widens buckets like the pattern matrix: aligned to the width, the first one partial", () => {
    const history = Array.from({ length: 130 }, (_, s) => tick(s + 7, { agents: {
      compliance: { calls: 10, errors: s % 2, avg_ms: 1, p95_ms: 2 } } }));
    const m = agentErrorMatrix(history, ["compliance"], 60);
    const p = patternMatrix(history, 60);
    expect(m.bucket_s).toBe(5);
    expect(p.bucket_s).toBe(5);
    expect(m.buckets[0]).toEqual([5, 10]);
    expect(p.buckets).toEqual(m.buckets);
    expect(m.buckets).toHaveLength(27);
    expect(m.cells[0]).toEqual([0, 0, 3.3, 30]);
    expect(m.cells[1]).toEqual([1, 0, 6, 50]);
    expect(m.cells[26]).toEqual([26, 0, 5, 20]);
  });
});

describe("interpolatedElapsed", () => {
  it("moves with the clock between ticks, by at most 1.5 s, and only while running", () => {
    expect(interpolatedElapsed(10, 1000, 1500, true)).toBe(10.5);
    expect(interpolatedElapsed(10, 1000, 9000, true)).toBe(11.5);
    expect(interpolatedElapsed(10, 1000, 9000, false)).toBe(10);
  });
});
