/** The control API client: reads for every page, token-guarded actions for the admin page. */

import type { Benchmark, FaultTypeInfo, RunRecord, ScenarioInfo } from "./protocol";

const TOKEN_KEY = "stresslab.token";

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The admin token from the fragment (#token=, then removed from the address bar) or this
 * tab's storage. A fragment never reaches a server, a log or a Referer header. */
export function takeToken(win: Window = window): string | null {
  const url = new URL(win.location.href);
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    win.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    fragment.delete("token");
    const rest = fragment.toString();
    win.history.replaceState(win.history.state, "",
      url.pathname + url.search + (rest ? `#${rest}` : ""));
    return fromUrl;
  }
  return win.sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string, win: Window = window): void {
  win.sessionStorage.setItem(TOKEN_KEY, token);
}

/** The API's own words for a failure: {"error": "..."} when it sent one. */
export async function errorText(response: Response): Promise<string> {
  const body = await response.text();
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: fall through to the status line
  }
  return body.trim().slice(0, 300) || `HTTP ${response.status} ${response.statusText}`;
}

export interface StartRun {
  scenario: string;
  time_scale: number;
  load_scale: number;
  tps?: number;
  duration?: string | number;
}

export interface InjectFault {
  type: string;
  target?: string;
  intensity: number;
  duration_s: number;
}

export const EXPORT_FILES = ["summary.json", "timeseries.csv", "report.html", "junit.xml"] as const;
export type ExportFile = (typeof EXPORT_FILES)[number];

function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === "object" && Array.isArray((body as Record<string, unknown>)[key])) {
    return (body as Record<string, T[]>)[key] ?? [];
  }
  return [];
}

export class ControlApi {
  constructor(readonly baseUrl: string, public token: string | null = null) {}

  private url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private async request(path: string, init: RequestInit = {}, auth = false): Promise<Response> {
    const headers = new Headers(init.headers);
    if (auth) {
      if (!this.token) throw new ApiError(401, "an admin token is needed: open the admin link "
        + "printed by `stresslab demo`, or paste the token");
      headers.set("Authorization", `Bearer ${this.token}`);
    }
    let response: Response;
    try {
      response = await fetch(this.url(path), { ...init, headers, cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, `cannot reach the control API (${String(error)})`);
    }
    if (!response.ok) throw new ApiError(response.status, await errorText(response));
    return response;
  }

  private async json<T>(path: string, init: RequestInit = {}, auth = false): Promise<T> {
    const response = await this.request(path, init, auth);
    return (await response.json()) as T;
  }

  async scenarios(): Promise<ScenarioInfo[]> {
    const body = await this.json<unknown>("/scenarios");
    return listOf<ScenarioInfo | string>(body, "scenarios")
      .map((s) => (typeof s === "string" ? { name: s } : s));
  }

  async faultTypes(): Promise<FaultTypeInfo[]> {
    const body = await this.json<unknown>("/fault-types");
    return listOf<FaultTypeInfo | string>(body, "fault_types")
      .map((f) => (typeof f === "string" ? { type: f } : f));
  }

  async runs(): Promise<RunRecord[]> {
    return listOf<RunRecord>(await this.json<unknown>("/runs"), "runs");
  }

  async run(runId: string): Promise<Record<string, unknown>> {
    return this.json(`/runs/${encodeURIComponent(runId)}`);
  }

  async profiles(): Promise<string[]> {
    return listOf<string>(await this.json<unknown>("/profiles"), "profiles")
      .filter((p) => typeof p === "string");
  }

  async profile(name: string): Promise<unknown> {
    return this.json(`/profiles/${encodeURIComponent(name)}`);
  }

  async benchmarks(): Promise<Benchmark[]> {
    return listOf<Benchmark>(await this.json<unknown>("/benchmarks"), "benchmarks");
  }

  async startRun(body: StartRun): Promise<{ run_id: string }> {
    return this.json("/runs", {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    }, true);
  }

  async stopRun(): Promise<unknown> {
    return this.json("/runs/current/stop", { method: "POST" }, true);
  }

  async injectFault(body: InjectFault): Promise<unknown> {
    return this.json("/faults", {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    }, true);
  }

  /** An export as a Blob (the token travels in a header, so no plain link). */
  async exportFile(runId: string, file: ExportFile): Promise<Blob> {
    const response = await this.request(
      `/runs/${encodeURIComponent(runId)}/export/${file}`, {}, true);
    return response.blob();
  }
}

/** Benchmarks that may be shown: a figure without a complete source never is. */
export function sourcedBenchmarks(entries: Benchmark[], wanted: string[] = []): Benchmark[] {
  return entries.filter((b) => {
    const s = b.source;
    const sourced = !!s && typeof s.title === "string" && s.title.trim() !== "" &&
      typeof s.url_or_path === "string" && s.url_or_path.trim() !== "";
    const number = typeof b.value === "number" && Number.isFinite(b.value);
    return sourced && number && (wanted.length === 0 || wanted.includes(b.id));
  });
}
