/** Pure derivations from live state: shares, fault windows, resilience, ROI, heatmap cells. */

import { LEGITIMATE_LABELS, type LiveEvent, type LiveRun, type Tick, type WindowRow } from "./protocol";

/** A second counts as down at or above this error share (live.UPTIME_ERROR_RATE). */
export const DOWN_ERROR_RATE = 0.01;

export interface DecisionShares {
  approve: number;
  review: number;
  block: number;
}

/** Shares of approve/review/block among the window's decisions; null when there were none. */
export function decisionShares(window: Pick<WindowRow, "decisions"> | null | undefined):
    DecisionShares | null {
  const d = window?.decisions ?? {};
  const approve = d.approve ?? 0;
  const review = d.review ?? 0;
  const block = d.block ?? 0;
  const total = approve + review + block;
  if (total <= 0) return null;
  return { approve: approve / total, review: review / total, block: block / total };
}

/** Errors and timeouts over what was sent; null when nothing was sent. */
export function errorRate(window: Pick<WindowRow, "errors" | "timeouts" | "sent">):
    number | null {
  return window.sent > 0 ? (window.errors + window.timeouts) / window.sent : null;
}

export function downtimeSeconds(history: Tick[]): { down: number; counted: number } {
  let down = 0;
  let counted = 0;
  for (const tick of history) {
    const rate = errorRate(tick.window);
    if (rate === null) continue;
    counted += 1;
    if (rate >= DOWN_ERROR_RATE) down += 1;
  }
  return { down, counted };
}

export interface Roi {
  /** What the checks cost so far, in the run's currency. */
  cost: number;
  /** Money protected for each unit of cost. */
  multiple: number | null;
}

export function roi(moneySaved: number, costPerTransaction: number, transactions: number): Roi {
  const cost = costPerTransaction * transactions;
  return { cost, multiple: cost > 0 ? moneySaved / cost : null };
}

export interface FaultWindow {
  key: string;
  label: string;
  type: string;
  target: string | null;
  start_s: number;
  /** null while the fault is still active. */
  end_s: number | null;
  /** true when known only from the plan (not yet seen in events or ticks). */
  planned: boolean;
}

function detailString(event: LiveEvent, name: string): string | null {
  const value = event.detail?.[name];
  return typeof value === "string" && value ? value : null;
}

function faultKey(event: LiveEvent): string {
  return detailString(event, "key") ?? detailString(event, "fault") ??
    [detailString(event, "type") ?? "fault", detailString(event, "target") ?? ""].join(":");
}

/**
 * Fault windows on the run's timeline: seen ones from fault events (and, for snapshots
 * without events, from the seconds that report active faults), planned ones from the run.
 */
export function faultWindows(run: LiveRun | null, events: LiveEvent[], history: Tick[]):
    FaultWindow[] {
  const windows: FaultWindow[] = [];
  const open = new Map<string, FaultWindow>();
  const planned = new Map((run?.faults ?? []).map((f) => [f.key, f]));
  const ordered = [...events].sort((a, b) => a.at_s - b.at_s);
  for (const event of ordered) {
    if (event.event === "fault_injected") {
      const key = faultKey(event);
      const plan = planned.get(key);
      const type = detailString(event, "type") ?? plan?.type ?? "fault";
      const window: FaultWindow = {
        key,
        label: detailString(event, "label") ?? plan?.label ?? type.replace(/_/g, " "),
        type,
        target: detailString(event, "target") ?? plan?.target ?? null,
        start_s: event.at_s,
        end_s: null,
        planned: false,
      };
      open.set(key, window);
      windows.push(window);
    } else if (event.event === "fault_cleared") {
      const key = faultKey(event);
      const window = open.get(key) ?? [...open.values()][0];
      if (window) {
        window.end_s = event.at_s;
        open.delete(window.key);
      }
    }
  }
  // Seconds that report an active fault no event told us about (e.g. events trimmed).
  const seenKeys = new Set(windows.map((w) => w.key));
  let current: Map<string, FaultWindow> = new Map();
  for (const tick of history) {
    const active = new Set(tick.faults_active ?? tick.window.faults ?? []);
    for (const key of active) {
      if (seenKeys.has(key)) continue;
      const existing = current.get(key);
      if (existing) {
        existing.end_s = null;
        continue;
      }
      const plan = planned.get(key);
      const window: FaultWindow = {
        key, label: plan?.label ?? key.replace(/_/g, " "), type: plan?.type ?? key,
        target: plan?.target ?? null, start_s: tick.second, end_s: null, planned: false,
      };
      current.set(key, window);
      windows.push(window);
    }
    const next = new Map<string, FaultWindow>();
    for (const [key, window] of current) {
      if (active.has(key)) next.set(key, window);
      else window.end_s = tick.second;
    }
    current = next;
  }
  const shown = new Set(windows.map((w) => w.key));
  for (const plan of run?.faults ?? []) {
    if (shown.has(plan.key)) continue;
    windows.push({ key: plan.key, label: plan.label, type: plan.type, target: plan.target,
                   start_s: plan.start_s, end_s: plan.end_s, planned: true });
  }
  return windows.sort((a, b) => a.start_s - b.start_s);
}

export type ResilienceStage =
  | "waiting" | "planned" | "injected" | "detected" | "recovering" | "recovered" | "absorbed";

export interface ResilienceMoment {
  stage: ResilienceStage;
  label: string | null;
  target: string | null;
  injected_at: number | null;
  detected_at: number | null;
  cleared_at: number | null;
  recovered_at: number | null;
  planned_at: number | null;
  /** What gave the detection away. */
  detected_by: "errors" | "slowdown" | "criterion" | null;
  baseline: Baseline | null;
}

export interface Baseline {
  error_rate: number;
  p95_ms: number | null;
  error_threshold: number;
  p95_threshold_ms: number | null;
}

const BASELINE_SECONDS = 30;

/** Normal behaviour from the seconds before `before_s` that had traffic and no fault. */
export function baselineBefore(history: Tick[], before_s: number): Baseline | null {
  const calm = history
    .filter((t) => t.elapsed_s <= before_s + 1e-9 && t.window.sent > 0 &&
                   (t.faults_active?.length ?? 0) === 0)
    .slice(-BASELINE_SECONDS);
  if (calm.length === 0) return null;
  let sent = 0;
  let failed = 0;
  const p95s: number[] = [];
  for (const t of calm) {
    sent += t.window.sent;
    failed += t.window.errors + t.window.timeouts;
    if (t.window.p95_ms !== null) p95s.push(t.window.p95_ms);
  }
  p95s.sort((a, b) => a - b);
  const p95 = p95s.length ? p95s[Math.floor(p95s.length / 2)] ?? null : null;
  const rate = sent ? failed / sent : 0;
  return {
    error_rate: rate,
    p95_ms: p95,
    error_threshold: Math.max(DOWN_ERROR_RATE, 2 * rate),
    p95_threshold_ms: p95 === null ? null : Math.max(2 * p95, p95 + 50),
  };
}

/** Which limit the window breaks against the baseline, if any. */
export function breach(window: WindowRow, baseline: Baseline | null):
    "errors" | "slowdown" | null {
  const rate = errorRate(window);
  const errorLimit = baseline?.error_threshold ?? DOWN_ERROR_RATE;
  if (rate !== null && rate > errorLimit) return "errors";
  const p95Limit = baseline?.p95_threshold_ms ?? null;
  if (p95Limit !== null && window.p95_ms !== null && window.p95_ms > p95Limit) return "slowdown";
  return null;
}

/**
 * The latest fault's story: injected → detected (first second after the injection whose
 * errors or p95 break the pre-fault baseline, or a criterion breach) → recovered (first
 * second after the fault ended back within the baseline).
 */
export function resilienceMoment(
  run: LiveRun | null, events: LiveEvent[], history: Tick[],
): ResilienceMoment {
  const empty: ResilienceMoment = {
    stage: "waiting", label: null, target: null, injected_at: null, detected_at: null,
    cleared_at: null, recovered_at: null, planned_at: null, detected_by: null, baseline: null,
  };
  const windows = faultWindows(run, events, history);
  const seen = windows.filter((w) => !w.planned);
  const fault = seen[seen.length - 1];
  if (!fault) {
    const lastSecond = history[history.length - 1]?.elapsed_s ?? 0;
    const next = windows.find((w) => w.planned && w.start_s >= lastSecond);
    if (!next) return empty;
    return { ...empty, stage: "planned", label: next.label, target: next.target,
             planned_at: next.start_s };
  }
  const baseline = baselineBefore(history, fault.start_s);
  const moment: ResilienceMoment = {
    ...empty, stage: "injected", label: fault.label, target: fault.target,
    injected_at: fault.start_s, cleared_at: fault.end_s, baseline,
  };
  for (const tick of history) {
    if (tick.elapsed_s <= fault.start_s) continue;
    const why = breach(tick.window, baseline);
    if (why) {
      moment.detected_at = tick.elapsed_s;
      moment.detected_by = why;
      break;
    }
  }
  const criterion = events.find((e) => e.event === "criterion_breached" &&
                                       e.at_s >= fault.start_s);
  if (criterion && (moment.detected_at === null || criterion.at_s < moment.detected_at)) {
    moment.detected_at = criterion.at_s;
    moment.detected_by = "criterion";
  }
  if (fault.end_s === null) {
    moment.stage = moment.detected_at === null ? "injected" : "detected";
    return moment;
  }
  if (moment.detected_at === null) {
    moment.stage = "absorbed";
    return moment;
  }
  const endedAt = fault.end_s;
  const back = history.find((t) => t.second >= Math.floor(endedAt) && t.window.sent > 0 &&
                                   breach(t.window, baseline) === null);
  if (back) {
    moment.recovered_at = back.elapsed_s;
    moment.stage = "recovered";
  } else {
    moment.stage = "recovering";
  }
  return moment;
}

export interface PatternMatrix {
  patterns: string[];
  /** [start_s, end_s) of each time bucket. */
  buckets: [number, number][];
  /** [bucket index, pattern index, detection rate % or null, seen] */
  cells: [number, number, number | null, number][];
  bucket_s: number;
}

const NICE_BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

interface TimeBuckets {
  /** bucket width, seconds */
  size: number;
  /** first bucket's start, a multiple of `size` */
  start: number;
  count: number;
  /** the bucket a run-time second falls in */
  of: (second: number) => number;
}

/** A (non-empty) history's seconds cut into at most `maxBuckets` buckets of a round width. */
function timeBuckets(history: Tick[], maxBuckets: number): TimeBuckets {
  const first = history[0]!.second;
  const last = history[history.length - 1]!.second;
  const span = last - first + 1;
  const size = NICE_BUCKETS.find((b) => Math.ceil(span / b) <= maxBuckets) ??
    Math.ceil(span / maxBuckets);
  const start = Math.floor(first / size) * size;
  const count = Math.floor(last / size) - Math.floor(first / size) + 1;
  return { size, start, count, of: (second) => Math.floor((second - start) / size) };
}

function zeros(rows: number, columns: number): number[][] {
  return Array.from({ length: rows }, () => new Array<number>(columns).fill(0));
}

/** Per bucket and row: [bucket, row, part ÷ whole in % (one decimal) or null, whole]. */
function shareCells(time: TimeBuckets, part: number[][], whole: number[][]): {
  buckets: [number, number][];
  cells: [number, number, number | null, number][];
  bucket_s: number;
} {
  const cells: [number, number, number | null, number][] = [];
  const buckets: [number, number][] = [];
  for (let b = 0; b < time.count; b++) {
    buckets.push([time.start + b * time.size, time.start + (b + 1) * time.size]);
    whole[b]!.forEach((n, row) => {
      cells.push([b, row, n > 0 ? Math.round((1000 * part[b]![row]!) / n) / 10 : null, n]);
    });
  }
  return { buckets, cells, bucket_s: time.size };
}

/** Fraud pattern × time bucket → detection rate (flagged / seen), at most `maxBuckets` wide. */
export function patternMatrix(history: Tick[], maxBuckets = 30): PatternMatrix {
  const names = new Set<string>();
  for (const tick of history) {
    for (const name of Object.keys(tick.window.patterns ?? {})) names.add(name);
  }
  // Legitimate labels are judged by false alarms, not detection: they stay out of this matrix.
  const patterns = [...names].filter((n) => !LEGITIMATE_LABELS.includes(n)).sort();
  if (history.length === 0 || patterns.length === 0) {
    return { patterns, buckets: [], cells: [], bucket_s: 1 };
  }
  const time = timeBuckets(history, maxBuckets);
  const seen = zeros(time.count, patterns.length);
  const flagged = zeros(time.count, patterns.length);
  const index = new Map(patterns.map((p, i) => [p, i]));
  for (const tick of history) {
    const b = time.of(tick.second);
    for (const [name, pair] of Object.entries(tick.window.patterns ?? {})) {
      const p = index.get(name);
      if (p === undefined || !Array.isArray(pair)) continue;
      seen[b]![p]! += pair[0] ?? 0;
      flagged[b]![p]! += pair[1] ?? 0;
    }
  }
  return { patterns, ...shareCells(time, flagged, seen) };
}

/** Highest answered-per-second value in the history. */
export function peakOk(history: Tick[]): number {
  let peak = 0;
  for (const t of history) peak = Math.max(peak, t.window.ok);
  return peak;
}

/** Current run-time second, interpolated between ticks by the wall clock (bounded). */
export function interpolatedElapsed(
  latestElapsed: number, receivedAtMs: number, nowMs: number, running: boolean,
): number {
  if (!running) return latestElapsed;
  const extra = Math.min(1.5, Math.max(0, (nowMs - receivedAtMs) / 1000));
  return latestElapsed + extra;
}

export interface AgentErrorMatrix {
  agents: string[];
  buckets: [number, number][];
  /** [bucket index, agent index, failed calls % or null, calls] */
  cells: [number, number, number | null, number][];
  bucket_s: number;
}

/** Agent × time bucket → share of calls that failed, at most `maxBuckets` wide. */
export function agentErrorMatrix(history: Tick[], agents: string[], maxBuckets = 60):
    AgentErrorMatrix {
  if (history.length === 0 || agents.length === 0) {
    return { agents, buckets: [], cells: [], bucket_s: 1 };
  }
  const time = timeBuckets(history, maxBuckets);
  const calls = zeros(time.count, agents.length);
  const errors = zeros(time.count, agents.length);
  for (const tick of history) {
    const b = time.of(tick.second);
    agents.forEach((name, a) => {
      const w = tick.window.agents?.[name];
      if (!w) return;
      calls[b]![a]! += w.calls;
      errors[b]![a]! += w.errors;
    });
  }
  return { agents, ...shareCells(time, errors, calls) };
}
