import { describe, expect, it } from "vitest";

import { sourcedBenchmarks } from "../src/api";
import { resolveUrls } from "../src/config";
import { pickOutcome, transactionsPerDot } from "../src/flow";
import {
  convertMoney, DEFAULT_WORDING, fillTemplate, HERO_METRICS, normalizeProfile, profileFromUrl,
} from "../src/profile";
import type { Benchmark } from "../src/protocol";

describe("profiles", () => {
  it("fills what a profile leaves out and keeps its emphasis first", () => {
    const p = normalizeProfile("board", { audience: "Board", currency: "EUR",
      emphasis: ["money_saved", "bogus", "ai_accuracy"],
      wording: { title: "Board update", subtitle: "", labels: { money_saved: "Losses avoided" } },
      benchmarks: ["a"], cycle_s: 15 });
    expect(p.emphasis.slice(0, 2)).toEqual(["money_saved", "ai_accuracy"]);
    expect(new Set(p.emphasis)).toEqual(new Set(HERO_METRICS));
    expect(p.currency).toBe("EUR");
    expect(p.wording.title).toBe("Board update");
    expect(p.wording.money_saved).toBe("Losses avoided");
    expect(p.wording.fraud_blocked).toBe(DEFAULT_WORDING.fraud_blocked);
    expect(p.benchmarks).toEqual(["a"]);
    expect(p.cycle_s).toBe(15);
    expect(p.wording.subtitle).toBe(DEFAULT_WORDING.subtitle);
  });
  it("reads the profile from the URL, rejecting odd names", () => {
    expect(profileFromUrl("?profile=investor")).toBe("investor");
    expect(profileFromUrl("?profile=../etc")).toBeNull();
    expect(profileFromUrl("")).toBeNull();
  });
  it("converts money through USD and refuses without a rate", () => {
    const fx = { USD: 1, EUR: 1.08, JPY: 1 / 150 };
    expect(convertMoney(108, "USD", "EUR", fx)).toBeCloseTo(100);
    expect(convertMoney(1, "EUR", "JPY", fx)).toBeCloseTo(162);
    expect(convertMoney(5, "USD", "USD", {})).toBe(5);
    expect(convertMoney(5, "USD", "GBP", fx)).toBeNull();
  });
  it("fills templates", () => {
    expect(fillTemplate("{a} and {b} {missing}.", { a: "x", b: "y" })).toBe("x and y.");
  });
});

describe("benchmarks", () => {
  const base: Benchmark = { id: "a", label: "A", value: 1, unit: "%",
    source: { title: "Report", url_or_path: "https://example.org", date: "2025" } };
  it("shows only figures that carry a source", () => {
    const entries: Benchmark[] = [base, { ...base, id: "b", source: null },
      { ...base, id: "c", source: { title: "", url_or_path: "x", date: "" } },
      { ...base, id: "d", value: Number.NaN }];
    expect(sourcedBenchmarks(entries).map((b) => b.id)).toEqual(["a"]);
    expect(sourcedBenchmarks([base, { ...base, id: "e" }], ["e"]).map((b) => b.id)).toEqual(["e"]);
  });
});

describe("config", () => {
  it("resolves relative URLs against the page", () => {
    const c = resolveUrls({ ws_url: "/ws", api_url: "/api", fx_usd_per_unit: { EUR: 1.08,
      BAD: -1 } as Record<string, number> }, { href: "https://d.example/site/admin.html",
      protocol: "https:" });
    expect(c.ws_url).toBe("wss://d.example/ws");
    expect(c.api_url).toBe("https://d.example/api");
    expect(c.fx_usd_per_unit).toEqual({ EUR: 1.08 });
    expect(resolveUrls({ ws_url: "wss://x/y" }, { href: "http://a/", protocol: "http:" }).ws_url)
      .toBe("wss://x/y");
  });
});

describe("flow", () => {
  it("keeps the dot rate readable whatever the throughput", () => {
    expect(transactionsPerDot(16)).toBe(1);
    expect(transactionsPerDot(400)).toBe(10);
    expect(transactionsPerDot(10_000)).toBe(500);
  });
  it("colours dots by the window's decisions", () => {
    const shares = { approve: 0.8, review: 0.05, block: 0.15 };
    expect(pickOutcome(shares, 0, 0.1)).toBe("block");
    expect(pickOutcome(shares, 0, 0.17)).toBe("review");
    expect(pickOutcome(shares, 0, 0.5)).toBe("approve");
    expect(pickOutcome(shares, 0.2, 0.1)).toBe("failed");
  });
});
