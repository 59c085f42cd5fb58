import { describe, expect, it } from "vitest";

import {
  errorClassLabel, formatClock, formatCompact, formatInt, formatMoney, formatMs, formatPct,
  formatSmallMoney, formatSpoken, formatWhen, humanize,
} from "../src/format";

describe("format", () => {
  it("groups integers and compacts only big numbers", () => {
    expect(formatInt(1234567.4)).toBe("1,234,567");
    expect(formatCompact(99_999)).toBe("99,999");
    expect(formatCompact(15_230_000)).toBe("15.2M");
    expect(formatCompact(250_000)).toBe("250K");
    expect(formatInt(null)).toBe("—");
  });
  it("formats money with the currency's minor units", () => {
    expect(formatMoney(1234.5, "USD")).toBe("$1,234.50");
    expect(formatMoney(1234.5, "JPY")).toBe("¥1,235");
    expect(formatMoney(1.2345, "KWD")).toContain("1.235");
    expect(formatMoney(45_800_000, "USD", { compact: true })).toBe("$45.8M");
  });
  it("shows small costs with significant digits", () => {
    expect(formatSmallMoney(0.0000043, "USD")).toBe("$0.00000430");
    expect(formatSmallMoney(0.021, "USD")).toBe("$0.0210");
    expect(formatSmallMoney(3, "USD")).toBe("$3.00");
  });
  it("formats percentages, milliseconds and clocks", () => {
    expect(formatPct(99.974, 2)).toBe("99.97%");
    expect(formatMs(12.34)).toBe("12.3 ms");
    expect(formatMs(1234)).toBe("1.23 s");
    expect(formatClock(75)).toBe("1:15");
    expect(formatClock(3725)).toBe("1:02:05");
  });
  it("says durations in words", () => {
    expect(formatSpoken(1)).toBe("1 second");
    expect(formatSpoken(8)).toBe("8 seconds");
    expect(formatSpoken(134)).toBe("2 minutes 14 seconds");
    expect(formatSpoken(120)).toBe("2 minutes");
    expect(formatSpoken(3720)).toBe("1 hour 2 minutes");
    expect(formatSpoken(2.6)).toBe("3 seconds");
    expect(formatSpoken(0.988)).toBe("1 second");
    expect(formatSpoken(0.2)).toBe("less than a second");
  });
  it("names things for people", () => {
    expect(humanize("geographic_risk")).toBe("Geographic risk");
    expect(humanize("atm_cashout")).toBe("ATM cashout");
    expect(errorClassLabel("http_5xx")).toBe("HTTP 5xx");
  });
  it("keeps table times short", () => {
    const now = new Date("2026-11-27T12:00:00");
    expect(formatWhen(new Date("2026-11-27T11:38:17").toISOString(), now)).toBe("11:38:17");
    expect(formatWhen(new Date("2026-11-20T11:38:17").toISOString(), now)).toBe("Nov 20 11:38:17");
    expect(formatWhen(null, now)).toBe("—");
  });
});
