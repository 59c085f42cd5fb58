/* Generated from control.schema.json (stresslab/control.py) by scripts/generate-types.mjs: do not edit. */

/**
 * The stresslab control API, browser to either runtime.
 */
export interface ControlApi {
  BaselineList?: BaselineList;
  BenchmarkList?: BenchmarkList;
  ErrorBody?: ErrorBody;
  ExportLink?: ExportLink;
  FaultInjected?: FaultInjected;
  FaultTypeList?: FaultTypeList;
  InjectFault?: InjectFault;
  KillSwitch?: KillSwitch;
  ProfileList?: ProfileList;
  RunList?: RunList;
  RunSeries?: RunSeries;
  RunStarted?: RunStarted;
  RunStopping?: RunStopping;
  ScenarioList?: ScenarioList;
  StartRun?: StartRun;
  ViewerLink?: ViewerLink;
  ViewerLinkRequest?: ViewerLinkRequest;
}
/**
 * GET /baselines[?scenario=NAME]: finished runs, the scenario's own first, newest first.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "BaselineList".
 */
export interface BaselineList {
  baselines: BaselineRun[];
  scenario: string | null;
}
/**
 * A finished run a page may overlay on the live one as its baseline.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "BaselineRun".
 */
export interface BaselineRun {
  ended_at: string | null;
  passed: boolean | null;
  run_id: string;
  /**
   * the same scenario as the one asked about
   */
  same_scenario: boolean;
  scenario: string;
  started_at: string;
  status: string;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "BenchmarkList".
 */
export interface BenchmarkList {
  benchmarks: Benchmark[];
}
/**
 * A figure to show beside the run; shown only when it carries a source.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "Benchmark".
 */
export interface Benchmark {
  id: string;
  kind?: "industry" | "competitor" | "stresslab_measured";
  label: string;
  note?: string;
  source?: Source | null;
  unit: string;
  value: number;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "Source".
 */
export interface Source {
  /**
   * YYYY, YYYY-MM or YYYY-MM-DD
   */
  date: string;
  title: string;
  url_or_path: string;
}
/**
 * Every refusal: one line naming the field or the reason.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ErrorBody".
 */
export interface ErrorBody {
  error: string;
}
/**
 * AWS answers an export with a short-lived link to the file; the local server sends the
 * file itself.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ExportLink".
 */
export interface ExportLink {
  expires_in_s: number;
  url: string;
}
/**
 * The local runtime answers with the fault's window on the run's clock; AWS with the FIS
 * experiment that carries it out (its template fixes intensity and duration).
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "FaultInjected".
 */
export interface FaultInjected {
  end_s?: number | null;
  experiment_id?: string | null;
  intensity?: number | null;
  label?: string | null;
  planned_end_s?: number | null;
  planned_start_s?: number | null;
  start_s?: number | null;
  status: string;
  target?: ("transaction_analysis" | "pattern_velocity" | "geographic_risk" | "compliance") | null;
  type: "agent_errors" | "latency" | "throttle" | "agent_down" | "slow_store" | "drop_connections";
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "FaultTypeList".
 */
export interface FaultTypeList {
  fault_types: FaultTypeInfo[];
  max_duration_s: number;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "FaultTypeInfo".
 */
export interface FaultTypeInfo {
  description: string;
  intensity: IntensityRange;
  targets: ("transaction_analysis" | "pattern_velocity" | "geographic_risk" | "compliance")[];
  type: "agent_errors" | "latency" | "throttle" | "agent_down" | "slow_store" | "drop_connections";
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "IntensityRange".
 */
export interface IntensityRange {
  default: number;
  max: number;
  min: number;
  unit: "ms" | "fraction";
}
/**
 * POST /faults: a fault on the running run, now.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "InjectFault".
 */
export interface InjectFault {
  duration_s?: number;
  intensity?: number | null;
  label?: string;
  run_id?: string | null;
  target?: ("transaction_analysis" | "pattern_velocity" | "geographic_risk" | "compliance") | null;
  type: "agent_errors" | "latency" | "throttle" | "agent_down" | "slow_store" | "drop_connections";
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "KillSwitch".
 */
export interface KillSwitch {
  kill_switch: "all" | "off";
  runs_stopped?: string[] | null;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ProfileList".
 */
export interface ProfileList {
  placeholders: {
    [k: string]: string;
  };
  profiles: string[];
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "RunList".
 */
export interface RunList {
  current?: string | null;
  runs: {
    [k: string]: unknown;
  }[];
}
/**
 * GET /runs/{run_id}/series: a finished run's per-second series, as stored.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "RunSeries".
 */
export interface RunSeries {
  duration_s: number;
  phases: SeriesPhase[];
  run_id: string;
  scenario: string;
  seconds: SeriesSecond[];
  started_at: string;
  status: string;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "SeriesPhase".
 */
export interface SeriesPhase {
  end_s: number;
  name: string;
  start_s: number;
}
/**
 * One stored second of a run, the fields the analytics page charts.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "SeriesSecond".
 */
export interface SeriesSecond {
  accuracy: number | null;
  dropped: number;
  /**
   * (errors + timeouts) / sent
   */
  error_rate: number | null;
  errors: number;
  errors_by_class: {
    [k: string]: number;
  };
  ok: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  /**
   * the scenario phase the second falls in
   */
  phase: string | null;
  /**
   * whole seconds since the run's start, as a tick's `second`
   */
  second: number;
  sent: number;
  target_tps: number;
  timeouts: number;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "RunStarted".
 */
export interface RunStarted {
  duration_s: number;
  execution_arn?: string | null;
  peak_tps: number;
  run_id: string;
  scenario: string;
  transactions?: number | null;
}
/**
 * POST /runs/current/stop (or /runs/{run_id}/stop): the run that was asked to stop.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "RunStopping".
 */
export interface RunStopping {
  execution_stopped?: boolean | null;
  experiments_stopped?: string[] | null;
  run_id: string;
  status: string;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ScenarioList".
 */
export interface ScenarioList {
  limits: Limits;
  scenarios: ScenarioInfo[];
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "Limits".
 */
export interface Limits {
  max_duration_s: number;
  max_tps: number;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ScenarioInfo".
 */
export interface ScenarioInfo {
  description: string;
  duration_s: number;
  faults: PlannedFault[];
  name: string;
  peak_tps: number;
  phases: Phase[];
  workers: number;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "PlannedFault".
 */
export interface PlannedFault {
  at_s: number;
  duration_s: number;
  label: string;
  target?: string | null;
  type: "agent_errors" | "latency" | "throttle" | "agent_down" | "slow_store" | "drop_connections";
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "Phase".
 */
export interface Phase {
  duration_s: number;
  name: string;
  shape: string;
}
/**
 * POST /runs: a bundled scenario by name, or a whole scenario inline; scaled, optionally
 * replaced by a constant rate for a time, optionally against a given target.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "StartRun".
 */
export interface StartRun {
  baseline?: string | null;
  duration?: number | string | null;
  load_scale?: number;
  scenario:
    | string
    | {
        [k: string]: unknown;
      };
  target_stream?: string | null;
  target_url?: string | null;
  time_scale?: number;
  tps?: number | null;
}
/**
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ViewerLink".
 */
export interface ViewerLink {
  expires_at: number;
  url: string;
}
/**
 * POST /viewer-links: how long the presentation link stays valid.
 *
 * This interface was referenced by `ControlApi`'s JSON-Schema
 * via the `definition` "ViewerLinkRequest".
 */
export interface ViewerLinkRequest {
  ttl_s?: number;
}
