import { describe, expect, it } from "vitest";
import {
  flowIsStill, flowLayout, OUTCOME_LABEL_WIDTH, sameFlowInput, type FlowAgent, type FlowInput,
} from "../src/flow";

describe("flowLayout", () => {
  it("keeps the outcome labels inside a phone-wide canvas", () => {
    for (const width of [320, 351, 400, 520]) {
      const layout = flowLayout(width, 200, 4);
      for (const o of ["approve", "review", "block"] as const) {
        expect(layout.outcomes[o].x + OUTCOME_LABEL_WIDTH).toBeLessThanOrEqual(width);
      }
      expect(layout.decision.x).toBeLessThan(layout.outcomes.approve.x - 20);
      expect(layout.agents[0]!.x).toBeLessThan(layout.decision.x);
      expect(layout.ingest.x).toBeLessThan(layout.agents[0]!.x);
    }
  });

  it("is unchanged on a wide screen", () => {
    const layout = flowLayout(1800, 400, 4);
    expect(layout.outcomes.approve).toEqual({ x: 1800 * 0.895, y: 400 * 0.24 });
    expect(layout.decision.x).toBe(1800 * 0.71);
    expect(layout.agents[0]!.x).toBe(1800 * 0.44);
  });
});

describe("flowIsStill", () => {
  const idle: FlowInput = { answered_per_s: 0, failed_per_s: 0, shares: null, agents: [] };
  const agent = { name: "a", label: "A", avg_ms: 3, error_share: 0 };

  it("skips frames only when nothing would move or change", () => {
    expect(flowIsStill(idle, 0, false)).toBe(true);
    expect(flowIsStill(idle, 0, true)).toBe(false);
    expect(flowIsStill(idle, 3, false)).toBe(false);
    expect(flowIsStill({ ...idle, answered_per_s: 1 }, 0, false)).toBe(false);
    expect(flowIsStill({ ...idle, failed_per_s: 0.5 }, 0, false)).toBe(false);
  });

  it("keeps drawing while an agent that is down blinks", () => {
    const down = { ...idle, agents: [{ ...agent, health: "down" as const }] };
    const healthy = { ...idle, agents: [{ ...agent, health: "healthy" as const }] };
    expect(flowIsStill(down, 0, false)).toBe(false);
    expect(flowIsStill(healthy, 0, false)).toBe(true);
  });
});

describe("sameFlowInput", () => {
  const idle: FlowInput = { answered_per_s: 0, failed_per_s: 0, shares: null, agents: [] };

  it("treats a message that changes nothing drawn as no change", () => {
    expect(sameFlowInput(idle, { ...idle, agents: [] })).toBe(true);
    expect(sameFlowInput(idle, { ...idle, answered_per_s: 1 })).toBe(false);
    const agent: FlowAgent = { name: "a", label: "A", health: "healthy", avg_ms: 3, error_share: 0 };
    expect(sameFlowInput({ ...idle, agents: [agent] },
                         { ...idle, agents: [{ ...agent, health: "down" }] })).toBe(false);
  });
});
