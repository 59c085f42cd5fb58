/** The control API client, typed by the contract generated from stresslab/control.py: reads for
 * every page, token-guarded actions for the admin page, on either runtime. */

import type {
  BenchmarkList, ExportLink, FaultInjected, FaultTypeList, InjectFault, KillSwitch, ProfileList,
  RunList, RunStarted, RunStopping, ScenarioList, StartRun, ViewerLink,
} from "./generated/control";
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

/** The API's own words for a failure: the contract's {"error": "..."}, or API Gateway's own
 * {"message": "..."} (its authoriser's 401, throttling). */
export async function errorText(response: Response): Promise<string> {
  const body = await response.text();
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: fall through to the status line
  }
  return body.trim().slice(0, 300) || `HTTP ${response.status} ${response.statusText}`;
}

export type { InjectFault, StartRun } from "./generated/control";

export const EXPORT_FILES = ["summary.json", "timeseries.csv", "report.html", "junit.xml"] as const;
export type ExportFile = (typeof EXPORT_FILES)[number];

/** An export as the runtime answers it: the file itself (local) or a short-lived link to it
 * (AWS: a pre-signed S3 URL). The client follows the answer's shape, not the runtime's name. */
export type ExportResult =
  | { kind: "file"; blob: Blob; name: string }
  | { kind: "link"; url: string; expiresInS: number; name: string };

export function isExportLink(value: unknown): value is ExportLink {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const keys = Object.keys(value).sort().join(",");
  const link = value as Record<string, unknown>;
  return keys === "expires_in_s,url" && typeof link.url === "string" &&
    /^https?:\/\//.test(link.url) && typeof link.expires_in_s === "number";
}

export type Runtime = "local" | "aws";

export class ControlApi {
  /** The bearer for the calls: the admin token (local) or the operator's id token (AWS). */
  credential: () => string | null = () => this.token;

  constructor(readonly baseUrl: string, public token: string | null = null,
              readonly runtime: Runtime = "local") {}

  private url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** The request as sent: on AWS every call carries the operator's token (the authoriser
   * guards reads too); locally only actions do. */
  shape(path: string, init: RequestInit = {}, auth = false): Request {
    const headers = new Headers(init.headers);
    const bearer = this.credential();
    if (auth && !bearer) {
      throw new ApiError(401, this.runtime === "aws"
        ? "sign in as an operator first"
        : "an admin token is needed: open the admin link printed by `stresslab demo`, or "
          + "paste the token");
    }
    if (bearer && (auth || this.runtime === "aws")) headers.set("Authorization", `Bearer ${bearer}`);
    if (init.body !== undefined) headers.set("Content-Type", "application/json");
    return new Request(this.url(path), { ...init, headers, cache: "no-store" });
  }

  private async request(path: string, init: RequestInit = {}, auth = false): Promise<Response> {
    const request = this.shape(path, init, auth);
    let response: Response;
    try {
      response = await fetch(request);
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

  private post<T>(path: string, body: unknown, method = "POST"): Promise<T> {
    return this.json(path, { method, body: body === undefined ? undefined : JSON.stringify(body) },
                     true);
  }

  async scenarios(): Promise<ScenarioInfo[]> {
    return (await this.json<ScenarioList>("/scenarios")).scenarios ?? [];
  }

  async faultTypes(): Promise<FaultTypeInfo[]> {
    return (await this.json<FaultTypeList>("/fault-types")).fault_types ?? [];
  }

  async runs(): Promise<RunRecord[]> {
    return ((await this.json<RunList>("/runs")).runs ?? []) as RunRecord[];
  }

  async run(runId: string): Promise<Record<string, unknown>> {
    return this.json(`/runs/${encodeURIComponent(runId)}`);
  }

  async profiles(): Promise<string[]> {
    return (await this.json<ProfileList>("/profiles")).profiles ?? [];
  }

  async profile(name: string): Promise<unknown> {
    return this.json(`/profiles/${encodeURIComponent(name)}`);
  }

  async benchmarks(): Promise<Benchmark[]> {
    return (await this.json<BenchmarkList>("/benchmarks")).benchmarks ?? [];
  }

  startRun(body: StartRun): Promise<RunStarted> {
    return this.post("/runs", body);
  }

  /** Stop the run that is running (both runtimes resolve `current`). */
  stopRun(): Promise<RunStopping> {
    return this.post("/runs/current/stop", undefined);
  }

  injectFault(body: InjectFault): Promise<FaultInjected> {
    return this.post("/faults", body);
  }

  /** AWS: a signed, read-only link to the live presentation for people without an account. */
  shareLink(ttlS?: number): Promise<ViewerLink> {
    return this.post("/viewer-links", ttlS === undefined ? {} : { ttl_s: ttlS });
  }

  /** AWS: stop every run, and any started, until the switch is cleared. */
  killSwitch(): Promise<KillSwitch> {
    return this.post("/kill-switch", undefined);
  }

  clearKillSwitch(): Promise<KillSwitch> {
    return this.post("/kill-switch", undefined, "DELETE");
  }

  async exportFile(runId: string, file: ExportFile): Promise<ExportResult> {
    const response = await this.request(
      `/runs/${encodeURIComponent(runId)}/export/${file}`, {}, true);
    const name = `${runId}-${file}`;
    const type = response.headers.get("Content-Type") ?? "";
    if (type.includes("json")) {
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        // a file that is not JSON after all: kept as it came
      }
      if (isExportLink(parsed)) {
        return { kind: "link", url: parsed.url, expiresInS: parsed.expires_in_s, name };
      }
      return { kind: "file", blob: new Blob([text], { type }), name };
    }
    return { kind: "file", blob: await response.blob(), name };
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
