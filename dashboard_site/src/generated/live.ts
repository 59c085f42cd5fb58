/* Generated from live.schema.json (stresslab/measurement/live.py) by scripts/generate-types.mjs: do not edit. */

/**
 * The dashboard message: server to browser, and the browser's requests.
 */
export interface LiveProtocol {
  ClientMessage?: ClientMessage;
  LiveEvent?: LiveEvent;
  Pong?: Pong;
  ServerError?: ServerError;
  ServerMessage?: Snapshot | Tick | LiveEvent | Pong | ServerError;
  Snapshot?: Snapshot;
  Tick?: Tick;
}
/**
 * What a browser may send: a ping, or a request for the full state again.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "ClientMessage".
 */
export interface ClientMessage {
  type: "ping" | "resync";
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "LiveEvent".
 */
export interface LiveEvent {
  at_s: number;
  detail: {
    [k: string]: unknown;
  };
  event:
    | "run_started"
    | "run_stopped"
    | "fault_injected"
    | "fault_cleared"
    | "criterion_breached"
    | "criterion_recovered"
    | "degradation_changed"
    | "run_note";
  run_id: string;
  schema: "stresslab.live/v1";
  type: "event";
}
/**
 * The answer to a ping.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "Pong".
 */
export interface Pong {
  schema: "stresslab.live/v1";
  type: "pong";
}
/**
 * A browser message the server refused, in one line.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "ServerError".
 */
export interface ServerError {
  message: string;
  schema: "stresslab.live/v1";
  type: "error";
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "Snapshot".
 */
export interface Snapshot {
  events: LiveEvent[];
  history: Tick[];
  run: LiveRun | null;
  runs: RunRecord[];
  schema: "stresslab.live/v1";
  type: "snapshot";
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "Tick".
 */
export interface Tick {
  agents: AgentLive[];
  cost: Cost;
  degradation: string;
  elapsed_s: number;
  faults_active: string[];
  hero: Hero;
  /**
   * process resource figures; the runtime decides which keys
   */
  infra: {
    [k: string]: unknown;
  } | null;
  /**
   * wall clock (epoch s) at which the runtime sent the tick
   */
  published_epoch: number | null;
  run_id: string;
  schema: "stresslab.live/v1";
  second: number;
  totals: Totals;
  type: "tick";
  window: WindowRow;
  /**
   * wall clock (epoch s) at which the window closed
   */
  window_end_epoch: number | null;
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "AgentLive".
 */
export interface AgentLive {
  avg_ms: number | null;
  calls: number;
  errors: number;
  health: "healthy" | "degraded" | "down" | "unknown";
  load_pct: number | null;
  name: string;
  p95_ms: number | null;
  /**
   * share of all agent time spent in this agent
   */
  share_pct: number | null;
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "Cost".
 */
export interface Cost {
  /**
   * modelled: tokens from a declared usage per agent call
   */
  basis: "modelled" | "reported";
  budget_status: "on track" | "over budget";
  budget_usd_per_day: number;
  cost_per_transaction: number;
  /**
   * how the cost was estimated, one line
   */
  model: string;
  pricing_source: string;
  projected_usd_per_day: number;
  usd_per_hour: number;
}
/**
 * The presentation's big numbers, all from the run so far.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "Hero".
 */
export interface Hero {
  ai_accuracy: number | null;
  currency: string;
  current_tps: number;
  fraud_blocked: number;
  money_saved: number;
  transactions_processed: number;
  uptime_pct: number | null;
}
/**
 * The run so far, in a tick.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "Totals".
 */
export interface Totals {
  accuracy: number | null;
  by_pattern: {
    [k: string]: PatternDetection;
  };
  dropped: number;
  errors: number;
  errors_by_class: {
    [k: string]: number;
  };
  false_positive_amount: number;
  false_positive_rate: number | null;
  fraud_missed: number;
  ok: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  peak_tps: number;
  precision: number | null;
  recall: number | null;
  scheduled: number;
  sent: number;
  timeouts: number;
  [k: string]: unknown;
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "PatternDetection".
 */
export interface PatternDetection {
  detection_rate: number | null;
  flagged: number;
  seen: number;
  [k: string]: unknown;
}
/**
 * One second of the run (aggregate.RunAggregator.second_row).
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "WindowRow".
 */
export interface WindowRow {
  accuracy: number | null;
  active_workers: number;
  agents: {
    [k: string]: AgentWindow;
  };
  decisions: {
    [k: string]: number;
  };
  dropped: number;
  errors: number;
  errors_by_class: {
    [k: string]: number;
  };
  faults: string[];
  fn: number;
  fp: number;
  fraud_prevented_usd: number;
  labelled: number;
  lag_p99_ms: number | null;
  max_ms: number | null;
  ok: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  partial?: boolean;
  /**
   * pattern -> [seen, flagged]
   */
  patterns: {
    /**
     * @minItems 2
     * @maxItems 2
     */
    [k: string]: [number, number];
  };
  scheduled: number;
  second: number;
  sent: number;
  target_tps: number;
  timeouts: number;
  tn: number;
  tp: number;
  workers_closed?: number;
  workers_expected?: number;
}
/**
 * One agent's calls inside a window (aggregate.agents_of).
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "AgentWindow".
 */
export interface AgentWindow {
  avg_ms: number | null;
  calls: number;
  errors: number;
  p95_ms: number | null;
}
/**
 * What a dashboard needs to know about the run before any tick.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "LiveRun".
 */
export interface LiveRun {
  criteria: string[];
  currency: string;
  description: string;
  duration_s: number;
  expected_per_second: number[];
  faults: PlannedFault[];
  load_scale: number;
  peak_tps: number;
  phases: PhaseInfo[];
  run_id: string;
  scenario: string;
  started_at: string;
  status: string;
  /**
   * the target as every page names it (never a secret)
   */
  system_under_test: TargetIdentity | null;
  target: string;
  time_scale: number;
}
/**
 * A fault on the scenario's timeline, as LiveRun lists it.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "PlannedFault".
 */
export interface PlannedFault {
  end_s: number;
  key: string;
  label: string;
  start_s: number;
  target: string | null;
  type: string;
}
/**
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "PhaseInfo".
 */
export interface PhaseInfo {
  end_s: number;
  name: string;
  shape: string;
  start_s: number;
}
/**
 * The system under test in a few words: its name, kind and where it lives.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "TargetIdentity".
 */
export interface TargetIdentity {
  /**
   * http: the URL's host[:port]; AWS kinds: the function, state machine, stream or queue name; never a path, query or credentials
   */
  host: string | null;
  /**
   * http, lambda, stepfunctions-express, kinesis or sqs
   */
  kind: string;
  /**
   * how pages and reports name it, in one line
   */
  label: string;
  /**
   * target.name from the scenario, else the host
   */
  name: string;
  /**
   * the bundled reference service (simulated agents)
   */
  reference: boolean;
}
/**
 * A past or current run as the control API and the snapshot list them.
 *
 * This interface was referenced by `LiveProtocol`'s JSON-Schema
 * via the `definition` "RunRecord".
 */
export interface RunRecord {
  ended_at?: string | null;
  passed?: boolean | null;
  run_id: string;
  scenario?: string;
  started_at?: string;
  status?: string;
  system?: string | null;
  [k: string]: unknown;
}
