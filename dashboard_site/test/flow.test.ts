import { describe, expect, it } from "vitest";
import { flowLayout, OUTCOME_LABEL_WIDTH } from "../src/flow";

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
