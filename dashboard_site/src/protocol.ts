/**
 * The dashboard message stresslab.live/v1, mirrored from `stresslab/measurement/live.py` (the one
 * definition) and the control API's JSON. Keep field names identical to the Python models.
 */

export const LIVE_SCHEMA = "stresslab.live/v1";

export type EventName =
  | "run_started"
  | "run_stopped"
  | "fault_injected"
  | "fault_cleared"
  | "criterion_breached"
  | "criterion_recovered"
  | "degradation_changed"
  | "run_note";

export type AgentHealth = "healthy" | "degraded" | "down" | "unknown";
export type BudgetStatus = "on track" | "over budget";
export type Decision = "approve" | "review" | "block";

/** PhaseInfo */
export interface PhaseInfo {
  name: string;
  shape: string;
  start_s: number;
  end_s: number;
}

/** One entry of LiveRun.faults (planned on the scenario's timeline). */
export interface PlannedFault {
  type: string;
  label: string;
  target: string | null;
  start_s: number;
  end_s: number;
  key: string;
}

/** LiveRun: what a dashboard needs to know about the run before any tick. */
export interface LiveRun {
  run_id: string;
  scenario: string;
  description: string;
  status: string;
  started_at: string;
  duration_s: number;
  time_scale: number;
  load_scale: number;
  peak_tps: number;
  target: string;
  currency: string;
  phases: PhaseInfo[];
  faults: PlannedFault[];
  criteria: string[];
  expected_per_second: number[];
}

/** Hero: the presentation's big numbers, all from the run so far. */
export interface Hero {
  transactions_processed: number;
  fraud_blocked: number;
  money_saved: number;
  currency: string;
  uptime_pct: number | null;
  current_tps: number;
  ai_accuracy: number | null;
}

/** Per-agent numbers inside one window (aggregate.agents_of). */
export interface AgentWindow {
  calls: number;
  errors: number;
  avg_ms: number | null;
  p95_ms: number | null;
}

/** AgentLive */
export interface AgentLive {
  name: string;
  calls: number;
  errors: number;
  avg_ms: number | null;
  p95_ms: number | null;
  share_pct: number | null;
  load_pct: number | null;
  health: AgentHealth;
}

/** Cost: cost_per_transaction is in the run's currency, the rest in USD. */
export interface Cost {
  cost_per_transaction: number;
  usd_per_hour: number;
  projected_usd_per_day: number;
  budget_usd_per_day: number;
  budget_status: BudgetStatus;
  pricing_source: string;
}

/** The per-second row (aggregate.RunAggregator.second_row). */
export interface WindowRow {
  second: number;
  target_tps: number;
  scheduled: number;
  sent: number;
  ok: number;
  errors: number;
  timeouts: number;
  dropped: number;
  errors_by_class: Record<string, number>;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  lag_p99_ms: number | null;
  labelled: number;
  accuracy: number | null;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** pattern -> [seen, flagged] */
  patterns: Record<string, [number, number]>;
  decisions: Partial<Record<Decision, number>> & Record<string, number>;
  fraud_prevented_usd: number;
  agents: Record<string, AgentWindow>;
  active_workers: number;
  faults: string[];
}

/** Tick.totals: the run so far. */
export interface Totals {
  scheduled: number;
  sent: number;
  ok: number;
  errors: number;
  timeouts: number;
  dropped: number;
  errors_by_class: Record<string, number>;
  peak_tps: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  false_positive_rate: number | null;
  by_pattern: Record<string, unknown>;
  fraud_missed: number;
  false_positive_amount: number;
  [extra: string]: unknown;
}

/** Process resource figures; the runtime decides which keys it fills (may be absent). */
export type Infra = Record<string, unknown>;

interface Message {
  schema: typeof LIVE_SCHEMA;
}

/** Tick: one closed second of the run. */
export interface Tick extends Message {
  type: "tick";
  run_id: string;
  second: number;
  elapsed_s: number;
  window: WindowRow;
  hero: Hero;
  totals: Totals;
  agents: AgentLive[];
  cost: Cost;
  infra: Infra | null;
  degradation: string;
  faults_active: string[];
  /** Wall clock (epoch seconds) at which the window closed, when the runtime sends it. */
  window_end_epoch?: number;
}

/** LiveEvent */
export interface LiveEvent extends Message {
  type: "event";
  run_id: string;
  event: EventName;
  at_s: number;
  detail: Record<string, unknown>;
}

/** Snapshot: sent on connect and on resync; replaces the client's state. */
export interface Snapshot extends Message {
  type: "snapshot";
  run: LiveRun | null;
  history: Tick[];
  events: LiveEvent[];
  runs: RunRecord[];
}

export interface Pong {
  type: "pong";
  schema?: string;
}

export interface ServerError {
  type: "error";
  message: string;
  schema?: string;
}

export type ServerMessage = Snapshot | Tick | LiveEvent | Pong | ServerError;

/** What the browser may send (live.ClientMessage). */
export type ClientMessage = { type: "ping" } | { type: "resync" };

/** A past or current run as the control API and the snapshot list them. */
export interface RunRecord {
  run_id: string;
  scenario?: string;
  status?: string;
  started_at?: string;
  ended_at?: string | null;
  passed?: boolean | null;
  [extra: string]: unknown;
}

/** /config.json, read at run time so one build serves local and AWS. */
export interface SiteConfig {
  mode: string;
  ws_url: string;
  api_url: string;
  /** USD value of one unit of each currency, e.g. {"USD": 1, "EUR": 1.08}. */
  fx_usd_per_unit: Record<string, number>;
  version: string;
  /** AWS: the operators' Cognito pool the admin page signs in to. */
  region?: string;
  user_pool_id?: string;
  user_pool_client_id?: string;
  /** Only where Cognito is not at its AWS address (the emulated AWS). */
  cognito_endpoint?: string;
  /** AWS: where a run started from the admin page goes unless the operator names a target. */
  target_url?: string;
}

/** The control API's answers: generated from stresslab/control.py's JSON Schema. */
export type { Benchmark, FaultTypeInfo, ScenarioInfo } from "./generated/control";

export function isServerMessage(value: unknown): value is ServerMessage {
  if (typeof value !== "object" || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === "snapshot" || type === "tick" || type === "event" || type === "pong" ||
    type === "error";
}

/**
 * The generator's label taxonomy (stresslab.generation.transactions): fraud patterns are scored on how
 * often they are caught; "normal" and the edge cases are legitimate.
 */
export const FRAUD_PATTERNS: readonly string[] = [
  "card_testing", "account_takeover", "velocity_burst", "impossible_travel",
  "high_risk_merchant", "bust_out", "cross_border_cnp", "atm_cashout",
];
export const LEGITIMATE_LABELS: readonly string[] = [
  "normal", "legit_travel", "zero_decimal_large", "three_decimal_currency", "minimum_amount",
  "very_large_purchase", "unicode_merchant_name", "device_missing", "local_midnight",
  "cross_border_ecommerce",
];
