/** Messages shaped exactly like stresslab.live/v1, built small for the tests. */

import type { LiveEvent, LiveRun, Snapshot, Tick, WindowRow } from "../src/protocol";

export function run(overrides: Partial<LiveRun> = {}): LiveRun {
  return {
    run_id: "r1", scenario: "smoke", description: "", status: "running",
    started_at: "2026-11-27T00:00:00Z", duration_s: 60, time_scale: 1, load_scale: 1,
    peak_tps: 100, target: "local", system_under_test: null, currency: "USD", phases: [],
    faults: [{ type: "agent_errors", label: "An AI agent fails", target: "geographic_risk",
               start_s: 20, end_s: 30, key: "f0" }],
    criteria: [], expected_per_second: [], ...overrides,
  };
}

export function windowRow(second: number, overrides: Partial<WindowRow> = {}): WindowRow {
  return {
    second, target_tps: 100, scheduled: 100, sent: 100, ok: 100, errors: 0, timeouts: 0,
    dropped: 0, errors_by_class: { http_5xx: 0 }, p50_ms: 20, p95_ms: 40, p99_ms: 60,
    max_ms: 80, lag_p99_ms: 1, labelled: 100, accuracy: 0.95, tp: 10, fp: 1, tn: 85, fn: 4,
    patterns: { normal: [85, 1], card_testing: [10, 9], bust_out: [5, 1] },
    decisions: { approve: 80, review: 5, block: 15 }, fraud_prevented_usd: 1000,
    agents: { geographic_risk: { calls: 100, errors: 0, avg_ms: 10, p95_ms: 20 } },
    active_workers: 2, faults: [], ...overrides,
  };
}

export function tick(second: number, overrides: Partial<WindowRow> = {}, runId = "r1",
                     faults: string[] = []): Tick {
  const window = windowRow(second, { faults, ...overrides });
  return {
    schema: "stresslab.live/v1", type: "tick", run_id: runId, second, elapsed_s: second + 1,
    window,
    hero: { transactions_processed: 100 * (second + 1), fraud_blocked: 10 * (second + 1),
            money_saved: 1000 * (second + 1), currency: "USD", uptime_pct: 100,
            current_tps: window.ok, ai_accuracy: 95 },
    totals: { scheduled: 0, sent: 100 * (second + 1), ok: 100 * (second + 1), errors: 0,
              timeouts: 0, dropped: 0, errors_by_class: {}, peak_tps: 100, p50_ms: 20,
              p95_ms: 40, p99_ms: 60, accuracy: 0.95, precision: 0.9, recall: 0.7,
              false_positive_rate: 0.01, by_pattern: {}, fraud_missed: 0,
              false_positive_amount: 0 },
    agents: [{ name: "geographic_risk", calls: 100, errors: 0, avg_ms: 10, p95_ms: 20,
               share_pct: 100, load_pct: 50, health: "healthy" }],
    cost: { cost_per_transaction: 0.001, usd_per_hour: 360, projected_usd_per_day: 8640,
            budget_usd_per_day: 300, budget_status: "over budget", pricing_source: "test",
            basis: "modelled", model: "" },
    infra: null, degradation: "NONE", faults_active: faults, window_end_epoch: null,
    published_epoch: null,
  };
}

export function event(name: LiveEvent["event"], at_s: number, detail: Record<string, unknown> = {},
                      runId = "r1"): LiveEvent {
  return { schema: "stresslab.live/v1", type: "event", run_id: runId, event: name, at_s, detail };
}

export function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return { schema: "stresslab.live/v1", type: "snapshot", run: run(), history: [], events: [],
           runs: [], ...overrides };
}

/** A run of `n` seconds with a fault between `from` and `to` that fails 30% of calls. */
export function faultyHistory(n: number, from: number, to: number, recoverAfter = 1): Tick[] {
  return Array.from({ length: n }, (_, s) => {
    const inFault = s >= from && s < to + recoverAfter;
    return tick(s, inFault ? { ok: 70, errors: 30, p95_ms: 200 } : {}, "r1",
                s >= from && s < to ? ["f0"] : []);
  });
}
