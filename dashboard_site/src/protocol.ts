/**
 * The dashboard message stresslab.live/v1: its types are generated (src/generated/live.ts) from
 * the JSON Schema of the pydantic models in `stresslab/measurement/live.py`, the one
 * definition, and its constants (src/generated/labels.ts) by stresslab/measurement/live_schema.py.
 * This module names them for the pages and adds the pure helpers.
 */
import {
  DECISIONS,
  FRAUD_PATTERNS as GENERATED_FRAUD_PATTERNS,
  LEGITIMATE_LABELS as GENERATED_LEGITIMATE_LABELS,
} from "./generated/labels";
import type { LiveEvent, LiveProtocol, Tick as SentTick } from "./generated/live";

export type {
  AgentLive,
  AgentWindow,
  ClientMessage,
  Cost,
  Hero,
  LiveEvent,
  LiveRun,
  PatternDetection,
  PhaseInfo,
  PlannedFault,
  Pong,
  RunRecord,
  ServerError,
  Snapshot,
  TargetIdentity,
  Totals,
  WindowRow,
} from "./generated/live";

export const LIVE_SCHEMA = "stresslab.live/v1";

export type EventName = LiveEvent["event"];
export type AgentHealth = SentTick["agents"][number]["health"];
export type BudgetStatus = SentTick["cost"]["budget_status"];
/** The decisions a target's answer is read as; a target may answer others. */
export type Decision = (typeof DECISIONS)[number];
/** Process resource figures; the runtime decides which keys it fills (may be absent). */
export type Infra = NonNullable<SentTick["infra"]>;

/** Tick: one closed second of the run (window_end_epoch and published_epoch, when a runtime
 * sends them, let bench/dashboard_latency.py split its latency). */
export type Tick = SentTick;

export type ServerMessage = NonNullable<LiveProtocol["ServerMessage"]>;

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
 * The generator's label taxonomy (stresslab.generation.transactions, written into
 * src/generated/labels.ts): fraud patterns are scored on how often they are caught; "normal"
 * and the edge cases are legitimate.
 */
export const FRAUD_PATTERNS: readonly string[] = GENERATED_FRAUD_PATTERNS;
export const LEGITIMATE_LABELS: readonly string[] = GENERATED_LEGITIMATE_LABELS;
