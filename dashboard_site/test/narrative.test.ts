import { describe, expect, it } from "vitest";

import type { ResilienceMoment } from "../src/derive";
import { narrative, type NarrativeFacts } from "../src/narrative";

const calm: ResilienceMoment = {
  stage: "waiting", label: null, target: null, injected_at: null, detected_at: null,
  cleared_at: null, recovered_at: null, planned_at: null, detected_by: null, baseline: null,
};

function facts(overrides: Partial<NarrativeFacts> = {}): NarrativeFacts {
  return {
    running: true, hasData: true, elapsed_s: 134, transactions: 41_230, fraud_blocked: 1204,
    money: "$312,400", accuracy_pct: 96.12, checks_per_second: 812, resilience: calm,
    ...overrides,
  };
}

const JARGON = /\b(tps|p\d\d|latency|http|api|throughput|error rate|ms)\b/i;

describe("narrative", () => {
  it("tells the run so far in plain words", () => {
    expect(narrative(facts())).toBe("In 2 minutes 14 seconds the platform has checked 41,230 "
      + "transactions, stopped 1,204 fraud attempts and protected $312,400, with 96.1% of its "
      + "decisions correct.");
  });

  it("uses the past tense once the run is over", () => {
    expect(narrative(facts({ running: false }))).toContain("the platform checked 41,230");
  });

  it("is honest before any data", () => {
    expect(narrative(facts({ hasData: false, running: false }))).toMatch(/^Waiting for a run/);
    expect(narrative(facts({ hasData: false }))).toMatch(/first results/);
  });

  it("tells the failure while it happens and the recovery after", () => {
    const during = narrative(facts({ resilience: { ...calm, stage: "detected", injected_at: 60,
                                                   detected_at: 61 } }));
    expect(during).toContain("even with a failure under way it is still deciding 812 "
      + "transactions a second");
    const after = narrative(facts({ resilience: { ...calm, stage: "recovered", injected_at: 60,
                                                  detected_at: 61, cleared_at: 72,
                                                  recovered_at: 74 } }));
    expect(after).toContain("it was back to normal 14 seconds after a failure struck.");
    const absorbed = narrative(facts({ resilience: { ...calm, stage: "absorbed",
                                                     injected_at: 60, cleared_at: 70 } }));
    expect(absorbed).toContain("absorbed a failure with no visible impact");
  });

  it("singularises and leaves out an unknown accuracy", () => {
    const line = narrative(facts({ transactions: 1, fraud_blocked: 1, accuracy_pct: null,
                                   elapsed_s: 1 }));
    expect(line).toBe("In 1 second the platform has checked 1 transaction, stopped 1 fraud "
      + "attempt and protected $312,400.");
  });

  it("never uses technical jargon", () => {
    for (const stage of ["waiting", "injected", "detected", "recovering", "recovered",
                         "absorbed"] as const) {
      const line = narrative(facts({ resilience: { ...calm, stage, injected_at: 1,
                                                   recovered_at: 5 } }));
      expect(line).not.toMatch(JARGON);
    }
  });

  it("fills a profile's own template", () => {
    expect(narrative(facts(), "{transactions} payments screened; {money} kept safe."))
      .toBe("41,230 payments screened; $312,400 kept safe.");
  });
});
