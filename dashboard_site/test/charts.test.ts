import { describe, expect, it } from "vitest";

import type { FaultWindow } from "../src/derive";
import { faultAreas } from "../src/ui/charts";

function window(label: string, planned: boolean): FaultWindow {
  return { key: label, label, type: "latency", target: null, start_s: 10, end_s: 20, planned };
}

describe("faultAreas", () => {
  it("puts a planned window's label at the bottom so it never covers the fault's own", () => {
    const area = faultAreas([window("slow geo", true), window("slow geo", false)], 30) as {
      data: [Record<string, unknown>, Record<string, unknown>][];
    };
    const [planned, seen] = area.data.map(([start]) => start) as [
      Record<string, unknown>, Record<string, unknown>];
    expect(planned.name).toBe("slow geo (planned)");
    expect(planned.label).toEqual({ position: "insideBottom" });
    expect(seen.name).toBe("slow geo");
    expect(seen.label).toBeUndefined();
  });
});
