import { afterEach, describe, expect, it, vi } from "vitest";

import { isExpired, liveUrl, tokenExpiry, viewerCredential } from "../src/access";
import { ApiError, ControlApi, isExportLink } from "../src/api";
import type { SiteConfig } from "../src/protocol";

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => btoa(JSON.stringify(value))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${part({ alg: "HS256" })}.${part(claims)}.c2ln`;
}

const LOCAL: SiteConfig = { mode: "local", ws_url: "ws://127.0.0.1:8080/ws",
                            api_url: "http://127.0.0.1:8080/api", fx_usd_per_unit: {},
                            version: "" };
const AWS: SiteConfig = { mode: "aws", ws_url: "wss://ws.example/live",
                          api_url: "https://api.example", fx_usd_per_unit: {}, version: "",
                          user_pool_id: "us-east-1_abc", user_pool_client_id: "client" };

/** fetch that records the requests and answers from a queue. */
function fakeFetch(...answers: Response[]): Request[] {
  const seen: Request[] = [];
  vi.stubGlobal("fetch", async (request: Request) => {
    seen.push(request);
    return answers.shift() ?? new Response("{}", { status: 200,
      headers: { "Content-Type": "application/json" } });
  });
  return seen;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status,
    headers: { "Content-Type": "application/json" } });
}

afterEach(() => vi.unstubAllGlobals());

describe("request shaping per runtime", () => {
  it("local: reads go without a token, actions carry the admin token", async () => {
    const seen = fakeFetch(json({ scenarios: [], limits: { max_tps: 1, max_duration_s: 1 } }),
                           json({ run_id: "r1", scenario: "smoke", duration_s: 4,
                                  peak_tps: 5 }, 202));
    const api = new ControlApi(LOCAL.api_url, "admin-token", "local");
    await api.scenarios();
    await api.startRun({ scenario: "smoke", time_scale: 0.2, load_scale: 0.2 });

    expect(seen[0]!.url).toBe("http://127.0.0.1:8080/api/scenarios");
    expect(seen[0]!.headers.get("Authorization")).toBeNull();
    expect(seen[1]!.method).toBe("POST");
    expect(seen[1]!.headers.get("Authorization")).toBe("Bearer admin-token");
    expect(seen[1]!.headers.get("Content-Type")).toBe("application/json");
    expect(await seen[1]!.json()).toEqual({ scenario: "smoke", time_scale: 0.2,
                                            load_scale: 0.2 });
  });

  it("aws: every call carries the operator's id token, the current one at each call", async () => {
    const seen = fakeFetch();
    const api = new ControlApi(AWS.api_url, null, "aws");
    let token = "id-1";
    api.credential = () => token;
    await api.runs();
    token = "id-2";
    await api.stopRun();
    await api.shareLink();
    await api.clearKillSwitch();

    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET https://api.example/runs", "POST https://api.example/runs/current/stop",
      "POST https://api.example/viewer-links", "DELETE https://api.example/kill-switch"]);
    expect(seen.map((r) => r.headers.get("Authorization"))).toEqual([
      "Bearer id-1", "Bearer id-2", "Bearer id-2", "Bearer id-2"]);
    expect(await seen[2]!.json()).toEqual({});
  });

  it("refuses an action without a credential, saying what to do, and sends nothing", () => {
    const seen = fakeFetch();
    const aws = new ControlApi(AWS.api_url, null, "aws");
    expect(() => aws.shape("/runs", { method: "POST", body: "{}" }, true))
      .toThrow("sign in as an operator first");
    const local = new ControlApi(LOCAL.api_url, null, "local");
    expect(() => local.shape("/faults", { method: "POST", body: "{}" }, true))
      .toThrow("an admin token is needed");
    expect(seen).toEqual([]);
  });

  it("reports the contract's error line, and API Gateway's own message", async () => {
    fakeFetch(json({ error: "scenario: unknown scenario 'x'; known: smoke" }, 400),
              json({ message: "Unauthorized" }, 401));
    const api = new ControlApi(AWS.api_url, null, "aws");
    api.credential = () => "id";
    await expect(api.startRun({ scenario: "x" })).rejects.toMatchObject(
      { status: 400, message: "scenario: unknown scenario 'x'; known: smoke" });
    const error = await api.runs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, message: "Unauthorized" });
  });
});

describe("export follows the answer's shape", () => {
  it("a pre-signed link (AWS) is a link, not a file", async () => {
    fakeFetch(json({ url: "https://bucket.s3.amazonaws.com/runs/r1/report.html?X-Amz-Signature=x",
                     expires_in_s: 300 }));
    const api = new ControlApi(AWS.api_url, null, "aws");
    api.credential = () => "id";
    expect(await api.exportFile("r1", "report.html")).toEqual({
      kind: "link", url: "https://bucket.s3.amazonaws.com/runs/r1/report.html?X-Amz-Signature=x",
      expiresInS: 300, name: "r1-report.html" });
  });

  it("a file (local) is the file, even summary.json, which is JSON too", async () => {
    const summary = { run_id: "r1", passed: true, counts: { sent: 10 } };
    fakeFetch(json(summary), new Response("second,tps\n0,5\n", { status: 200,
      headers: { "Content-Type": "text/csv; charset=utf-8" } }));
    const api = new ControlApi(LOCAL.api_url, "t", "local");
    const got = await api.exportFile("r1", "summary.json");
    expect(got.kind).toBe("file");
    if (got.kind !== "file") return;
    expect(JSON.parse(await got.blob.text())).toEqual(summary);
    const csv = await api.exportFile("r1", "timeseries.csv");
    expect(csv.kind === "file" && await csv.blob.text()).toBe("second,tps\n0,5\n");
  });

  it("only an object of exactly url and expires_in_s is a link", () => {
    expect(isExportLink({ url: "https://x/y", expires_in_s: 300 })).toBe(true);
    expect(isExportLink({ url: "https://x/y", expires_in_s: 300, run_id: "r" })).toBe(false);
    expect(isExportLink({ url: "javascript:alert(1)", expires_in_s: 300 })).toBe(false);
    expect(isExportLink([1])).toBe(false);
  });
});

describe("the live feed's credential", () => {
  const now = Date.UTC(2026, 11, 3, 12) ;
  const link = jwt({ exp: now / 1000 + 60, aud: "stresslab-viewer" });

  it("local needs none", () => {
    expect(liveUrl(LOCAL, null, now)).toBe("ws://127.0.0.1:8080/ws");
  });

  it("aws: an operator's token as ?jwt=, a viewer link's as ?token=, nothing without", () => {
    expect(liveUrl(AWS, { kind: "operator", token: "id.tok.en" }, now))
      .toBe("wss://ws.example/live?jwt=id.tok.en");
    const viewer = viewerCredential(`?profile=investor&token=${link}`);
    expect(viewer).toEqual({ kind: "viewer", token: link, expiresAt: now / 1000 + 60 });
    expect(liveUrl(AWS, viewer, now)).toBe(`wss://ws.example/live?token=${link}`);
    expect(liveUrl(AWS, null, now)).toBeNull();
  });

  it("an expired viewer link connects to nothing and says it expired", () => {
    const viewer = viewerCredential(`?token=${link}`);
    expect(isExpired(viewer, now + 59_000)).toBe(false);
    expect(isExpired(viewer, now + 60_000)).toBe(true);
    expect(liveUrl(AWS, viewer, now + 60_000)).toBeNull();
  });

  it("reads exp only from a JWT that has one", () => {
    expect(tokenExpiry("not-a-jwt")).toBeNull();
    expect(tokenExpiry(jwt({ sub: "x" }))).toBeNull();
    expect(tokenExpiry("a.%%%.c")).toBeNull();
  });
});
