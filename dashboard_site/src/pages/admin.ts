/** Admin: infrastructure health, resources, cost, run history, and the operator's controls. */

import {
  ApiError, type ControlApi, EXPORT_FILES, type ExportFile, type InjectFault, type StartRun,
  storeToken, takeToken,
} from "../api";
import type { AuthState, OperatorSession } from "../auth";
import {
  formatClock, formatInt, formatMoney, formatNumber, formatPct, formatSmallMoney, formatWhen,
  humanize,
} from "../format";
import type { LiveState } from "../live";
import type { FaultTypeInfo, RunRecord, ScenarioInfo, Tick } from "../protocol";
import {
  baseOption, type Chart, chartPanel, UPDATE, COLORS, faultAreas, timeAxis, valueAxis,
} from "../ui/charts";
import { faultWindows } from "../derive";
import { h, setText } from "../ui/dom";
import { boot, type PageContext } from "../ui/shell";

const charts: Record<string, Chart> = {};
let api: ControlApi;
let ctxRef: PageContext;
let session: OperatorSession | null = null;
let listsLoaded = false;
let state: LiveState | null = null;
let runs: RunRecord[] = [];
let selectedRun: string | null = null;
let faultTypes: FaultTypeInfo[] = [];
let lastRunId: string | null = null;
let lastStatus: string | null = null;
// Off the address bar before anything else runs (the fragment never reaches the server).
const tokenFromUrl = takeToken();

interface ProcessReading {
  cpu_pct?: number | null;
  rss_mb?: number | null;
  memory_pct?: number | null;
  cpus?: number | null;
  loopback_mb_s?: number | null;
}

function reading(infra: Record<string, unknown> | null | undefined, key: string): ProcessReading | null {
  const value = infra?.[key];
  return value && typeof value === "object" ? (value as ProcessReading) : null;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function el<T extends HTMLElement = HTMLElement>(testid: string): T {
  return document.querySelector<T>(`[data-testid="${testid}"]`)!;
}

function show(result: HTMLElement, ok: boolean, text: string): void {
  result.className = `result ${ok ? "ok" : "error"}`;
  result.textContent = text;
}

function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    return error.status ? `${error.message} (HTTP ${error.status})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

async function act(button: HTMLButtonElement, result: HTMLElement,
                   action: () => Promise<string>): Promise<void> {
  button.disabled = true;
  try {
    show(result, true, await action());
  } catch (error) {
    show(result, false, errorMessage(error));
  } finally {
    button.disabled = false;
    updateButtons();
  }
}

function field(label: string, control: HTMLElement): HTMLElement {
  return h("label", { class: "field" }, label, control);
}

function controlsPanel(): HTMLElement {
  const result = h("div", { class: "result", "data-testid": "control-result", role: "status" });
  const scenario = h("select", { "data-testid": "scenario-select" });
  const timeScale = h("input", { type: "number", step: "any", min: "0.001", value: "0.2",
                                 "data-testid": "time-scale" });
  const loadScale = h("input", { type: "number", step: "any", min: "0.001", value: "0.2",
                                 "data-testid": "load-scale" });
  const start = h("button", { class: "button primary", "data-testid": "start-run" }, "Start test");
  const stop = h("button", { class: "button danger", "data-testid": "stop-run" }, "Stop test");
  const targetUrl = h("input", { type: "url", placeholder: "https://…/v1/score",
                                 "data-testid": "target-url", autocomplete: "off" });
  start.addEventListener("click", () => act(start, result, async () => {
    const body: StartRun = { scenario: scenario.value, time_scale: Number(timeScale.value),
                             load_scale: Number(loadScale.value) };
    if (targetUrl.value.trim()) body.target_url = targetUrl.value.trim();
    const answer = await api.startRun(body);
    selectedRun = answer.run_id;
    return `Started ${answer.run_id}`;
  }));
  stop.addEventListener("click", () => act(stop, result, async () => {
    await api.stopRun();
    return "Stop requested: workers drain what is in flight, then the run is recorded.";
  }));
  const faultType = h("select", { "data-testid": "fault-type" });
  const target = h("select", { "data-testid": "fault-target" });
  const intensity = h("input", { type: "number", step: "any", min: "0", value: "0.3",
                                 "data-testid": "fault-intensity" });
  const duration = h("input", { type: "number", step: "1", min: "1", value: "10",
                                "data-testid": "fault-duration" });
  faultType.addEventListener("change", () => {
    const info = faultTypes.find((f) => f.type === faultType.value);
    const range = info?.intensity;
    const preset = num(range?.default);
    if (preset !== null) intensity.value = String(preset);
    if (num(range?.min) !== null) intensity.min = String(range?.min);
    if (num(range?.max) !== null) intensity.max = String(range?.max);
    setText(el("fault-help"), [typeof info?.description === "string" ? info.description : "",
      range && num(range.min) !== null && num(range.max) !== null
        ? `intensity ${range.min}–${range.max}${range.unit ? ` ${range.unit}` : ""}` : "",
      api.runtime === "aws" ? "on AWS the stack's FIS template sets intensity and duration" : ""]
      .filter(Boolean).join(" · "));
    updateButtons();
  });
  const inject = h("button", { class: "button warn", "data-testid": "inject-fault" },
    "Inject failure");
  inject.addEventListener("click", () => act(inject, result, async () => {
    const body = { type: faultType.value, intensity: Number(intensity.value),
                   duration_s: Number(duration.value),
                   ...(target.value ? { target: target.value } : {}) } as InjectFault;
    const answer = await api.injectFault(body);
    const on = body.target ? ` on ${humanize(body.target)}` : "";
    return answer.experiment_id
      ? `Injected ${humanize(body.type)}${on} (FIS experiment ${answer.experiment_id})`
      : `Injected ${humanize(body.type)}${on} for ${body.duration_s} s`;
  }));
  const tokenInput = h("input", { type: "password", placeholder: "admin token",
                                  "data-testid": "token-input", autocomplete: "off" });
  const tokenBox = h("form", { class: "token-box", "data-testid": "token-box",
                                onsubmit: (e: Event) => e.preventDefault() },
    tokenInput, h("button", { class: "button", onclick: () => {
      if (!tokenInput.value.trim()) return;
      storeToken(tokenInput.value.trim());
      api.token = tokenInput.value.trim();
      tokenInput.value = "";
      updateToken();
    } }, "Use token"));
  const aws = api.runtime === "aws";
  if (aws && ctxRef.config.target_url) targetUrl.value = ctxRef.config.target_url;
  return h("section", { class: "panel", "data-testid": "controls" },
    h("h2", { class: "panel-title" }, "Controls",
      h("span", { class: "hint", "data-role": "token-state" }, "")),
    aws ? signInPanel() : tokenBox,
    h("div", { class: "control-section" },
      h("h3", {}, "Run a test"),
      h("div", { class: "control-grid start" },
        field("Scenario", scenario), field("Time scale", timeScale),
        field("Load scale", loadScale), start, stop),
      aws ? h("div", { class: "control-grid target" }, field("Target URL", targetUrl)) : null),
    h("div", { class: "control-section" },
      h("h3", {}, "Inject a failure"),
      h("div", { class: "control-grid fault" },
        field("Failure", faultType), field("Agent", target),
        field("Intensity", intensity),
        field("Seconds", duration), inject),
      h("div", { class: "faint", style: "font-size:12px; margin-top:6px",
                 "data-testid": "fault-help" }, "")),
    aws ? awsSection(result) : null,
    result);
}

/** AWS: the presentation link for people without an account, and the kill switch. */
function awsSection(result: HTMLElement): HTMLElement {
  const share = h("button", { class: "button primary", "data-testid": "share-link" },
    "Share presentation link");
  const linkBox = h("input", { type: "text", readonly: true, class: "share-url",
                               "data-testid": "share-url", "aria-label": "presentation link" });
  const copy = h("button", { class: "button", "data-testid": "copy-share-url" }, "Copy");
  const expiry = h("span", { class: "faint", "data-testid": "share-expiry" }, "");
  const shared = h("div", { class: "form-row share-row", hidden: true }, linkBox, copy, expiry);
  share.addEventListener("click", () => act(share, result, async () => {
    const link = await api.shareLink();
    linkBox.value = link.url;
    const until = new Date(link.expires_at * 1000);
    setText(expiry, `valid until ${formatWhen(until.toISOString())}`);
    shared.hidden = false;
    return "Presentation link ready: anyone with it watches live, read-only, until it expires.";
  }));
  copy.addEventListener("click", () => act(copy, result, async () => {
    linkBox.select();
    try {
      await navigator.clipboard.writeText(linkBox.value);
    } catch {
      return "Selected: copy it with Ctrl-C (this browser keeps the clipboard from the page).";
    }
    return "Link copied.";
  }));
  const kill = h("button", { class: "button danger", "data-testid": "kill-switch" },
    "Stop all runs (kill switch)");
  const clear = h("button", { class: "button", "data-testid": "clear-kill-switch" },
    "Clear kill switch");
  kill.addEventListener("click", () => act(kill, result, async () => {
    const answer = await api.killSwitch();
    const stopped = answer.runs_stopped ?? [];
    return `Kill switch on: ${stopped.length ? `stopped ${stopped.join(", ")}` : "no run was running"}`
      + "; no run starts until it is cleared.";
  }));
  clear.addEventListener("click", () => act(clear, result, async () => {
    await api.clearKillSwitch();
    return "Kill switch cleared: runs may start again.";
  }));
  return h("div", { class: "control-section", "data-testid": "aws-controls" },
    h("h3", {}, "Audience and safety"),
    h("div", { class: "form-row" }, share, kill, clear), shared);
}

/** AWS: the operator's Cognito sign-in, one step at a time. */
function signInPanel(): HTMLElement {
  return h("div", { class: "sign-in", "data-testid": "sign-in" });
}

function input(testid: string, attrs: Record<string, string> = {}): HTMLInputElement {
  return h("input", { "data-testid": testid, autocomplete: "off", ...attrs });
}

function step(title: string, submitLabel: string, submitId: string, fields: HTMLElement[],
              onSubmit: () => Promise<void>, extra: HTMLElement[] = []): HTMLElement {
  const submit = h("button", { class: "button primary", type: "submit",
                               "data-testid": submitId }, submitLabel);
  return h("form", { class: "sign-in-step", onsubmit: (event: Event) => {
    event.preventDefault();
    void onSubmit();
  } }, h("h3", {}, title), ...extra, h("div", { class: "form-row" }, ...fields, submit));
}

function renderAuth(state: AuthState): void {
  const panel = el("sign-in");
  if (!panel || !session) return;
  const s = session;
  const current = state.current;
  let body: HTMLElement;
  switch (current.step) {
    case "signed-out": {
      const user = input("signin-username", { placeholder: "email", type: "email",
                                               autocomplete: "username" });
      const password = input("signin-password", { placeholder: "password", type: "password",
                                                   autocomplete: "current-password" });
      body = step("Operator sign-in", "Sign in", "signin-submit",
        [field("Email", user), field("Password", password)],
        () => s.signIn(user.value, password.value));
      break;
    }
    case "new-password": {
      const password = input("new-password", { type: "password",
                                               autocomplete: "new-password" });
      body = step("Choose a new password", "Set password", "new-password-submit",
        [field("New password", password)], () => s.setNewPassword(password.value),
        [h("p", { class: "faint" }, "This is your first sign-in: replace the temporary " +
          "password (12 characters or more, with upper and lower case, a digit and a symbol).")]);
      break;
    }
    case "totp-setup": {
      const code = input("totp-setup-code", { inputmode: "numeric", maxlength: "6" });
      body = step("Set up your authenticator", "Verify", "totp-setup-submit",
        [field("6-digit code", code)], () => s.verifyTotpSetup(code.value),
        [h("p", { class: "faint" }, "Add this key to an authenticator app (TOTP), then " +
          "enter the code it shows."),
         h("div", { class: "kv" },
           h("span", { class: "k" }, "Key"),
           h("code", { "data-testid": "totp-secret" }, current.secret),
           h("span", { class: "k" }, "URI"),
           h("code", { "data-testid": "totp-uri", class: "wrap" }, current.uri))]);
      break;
    }
    case "totp": {
      const code = input("totp-code", { inputmode: "numeric", maxlength: "6" });
      body = step("Authenticator code", "Verify", "totp-submit",
        [field("6-digit code", code)], () => s.answerTotp(code.value));
      break;
    }
    case "signed-in": {
      body = h("div", { class: "form-row" },
        h("span", { "data-testid": "signed-in-as" }, `Signed in as ${current.username}`),
        h("button", { class: "button", "data-testid": "sign-out",
                      onclick: () => s.signOut() }, "Sign out"));
      break;
    }
  }
  const error = state.error
    ? h("div", { class: "result error", "data-testid": "signin-error", role: "alert" },
        state.error)
    : null;
  panel.replaceChildren(body, ...(error ? [error] : []));
  for (const button of panel.querySelectorAll("button")) button.disabled = state.busy;
  if (current.step !== "signed-in") {
    panel.querySelector<HTMLInputElement>("input")?.focus();
  }
}

function updateToken(): void {
  if (api.runtime === "aws") {
    setText(document.querySelector("[data-role=token-state]"), session?.signedIn
      ? "signed in for this tab" : "actions need an operator sign-in");
    return;
  }
  const has = !!api.token;
  el("token-box").hidden = has;
  setText(document.querySelector("[data-role=token-state]"),
    has ? "token set for this tab" : "actions need the admin token");
}

function updateButtons(): void {
  const running = state?.run?.status === "running" || state?.run?.status === "starting";
  el<HTMLButtonElement>("stop-run").disabled = !running;
  el<HTMLButtonElement>("inject-fault").disabled = !running;
  const target = el<HTMLSelectElement>("fault-target");
  const agents = state?.latest?.agents.map((a) => a.name) ?? [];
  const info = faultTypes.find((f) => f.type === el<HTMLSelectElement>("fault-type").value);
  // The API says which agents a fault may target (none: service-wide); else the live agents.
  const names = Array.isArray(info?.targets) ? info.targets : agents;
  const current = [...target.options].map((o) => o.value).join(",");
  const wanted = ["", ...names].join(",");
  if (current !== wanted) {
    const keep = names.includes(target.value) ? target.value : names[0] ?? "";
    target.replaceChildren(h("option", { value: "" }, names.length ? "every agent" : "whole service"),
      ...names.map((n) => h("option", { value: n, selected: n === keep }, humanize(n))));
    target.value = keep;
  }
}

function infraPanel(): HTMLElement {
  return h("section", { class: "panel", "data-testid": "infra" },
    h("h2", { class: "panel-title" }, "Infrastructure health",
      h("span", { class: "hint", "data-role": "infra-hint" }, "")),
    h("div", { class: "infra-grid", "data-role": "infra-grid" }));
}

function costPanel(): HTMLElement {
  return h("section", { class: "panel", "data-testid": "cost" },
    h("h2", { class: "panel-title" }, "Cost tracking",
      h("span", { class: "hint" }, "estimate from the price table")),
    h("div", { class: "kv", "data-role": "cost-kv" }));
}

function historyPanel(): HTMLElement {
  const result = h("div", { class: "result", "data-testid": "export-result", role: "status" });
  const buttons = EXPORT_FILES.map((file) => {
    const button = h("button", { class: "button", "data-testid": `export-${file}` }, file);
    button.addEventListener("click", () => act(button, result, () => download(file)));
    return button;
  });
  return h("section", { class: "panel history-panel", "data-testid": "run-history" },
    h("h2", { class: "panel-title" }, "Run history",
      h("span", { class: "hint", "data-role": "selected-run" }, "")),
    h("div", { class: "table-wrap" },
      h("table", { class: "runs" },
        h("thead", {}, h("tr", {},
          ...["Started", "Scenario", "System under test", "Status", "Verdict", "Run id"]
            .map((t) => h("th", {}, t)))),
        h("tbody", { "data-testid": "runs-body" }))),
    h("div", { class: "form-row", style: "margin-top:12px" },
      h("span", { class: "muted", style: "font-size:13px" }, "Export"), ...buttons),
    result);
}

async function download(file: ExportFile): Promise<string> {
  const runId = selectedRun ?? state?.run?.run_id ?? runs[0]?.run_id;
  if (!runId) throw new Error("no run to export yet");
  const result = await api.exportFile(runId, file);
  if (result.kind === "link") {
    // A pre-signed link: the browser fetches the file itself, no token in it beyond the link's.
    const link = h("a", { href: result.url, download: result.name, rel: "noopener",
                          "data-testid": "export-link" });
    document.body.append(link);
    link.click();
    link.remove();
    return `Downloading ${file} of ${runId} (link valid ${result.expiresInS} s)`;
  }
  const url = URL.createObjectURL(result.blob);
  const link = h("a", { href: url, download: result.name });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 30_000);
  return `Downloaded ${file} of ${runId} (${formatInt(result.blob.size)} bytes)`;
}

function renderRuns(): void {
  const body = el("runs-body");
  const current = state?.run?.run_id ?? null;
  const rows = [...runs];
  if (current && !rows.some((r) => r.run_id === current)) {
    rows.unshift({ run_id: current, scenario: state?.run?.scenario, status: state?.run?.status,
                   started_at: state?.run?.started_at,
                   system: state?.run?.system_under_test?.label ?? null });
  }
  if (!rows.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "6", class: "muted" }, "No runs yet.")));
  } else {
    body.replaceChildren(...rows.map((r) => {
      const passed = typeof r.passed === "boolean" ? r.passed : null;
      const row = h("tr", { "data-run-id": r.run_id,
                            class: r.run_id === (selectedRun ?? current) ? "selected" : "" },
        h("td", {}, formatWhen(typeof r.started_at === "string" ? r.started_at : null)),
        h("td", {}, String(r.scenario ?? "—")),
        h("td", { "data-role": "run-system" }, String(r.system ?? "—")),
        h("td", {}, String(r.status ?? "—")),
        h("td", { class: passed === null ? "muted" : passed ? "pass" : "fail" },
          passed === null ? "—" : passed ? "passed" : "failed"),
        h("td", { class: "faint" }, r.run_id));
      row.addEventListener("click", () => {
        selectedRun = r.run_id;
        renderRuns();
      });
      return row;
    }));
  }
  setText(document.querySelector("[data-role=selected-run]"),
    (selectedRun ?? current) ? `selected: ${selectedRun ?? current}` : "");
}

async function refreshRuns(): Promise<void> {
  try {
    runs = await api.runs();
  } catch (error) {
    show(el("export-result"), false, `run history: ${errorMessage(error)}`);
  }
  renderRuns();
}

function procCard(title: string, r: ProcessReading | null, extra: string[] = []): HTMLElement {
  const ok = r !== null && num(r.cpu_pct) !== null;
  return h("div", { class: "infra-proc" },
    h("h3", {}, h("span", { class: ok ? "pass" : "muted" }, ok ? "●" : "○"), title),
    h("div", { class: "kv" },
      h("span", { class: "k" }, "CPU"), h("span", {}, formatPct(num(r?.cpu_pct), 1)),
      h("span", { class: "k" }, "Memory"),
      h("span", {}, num(r?.rss_mb) === null ? (num(r?.memory_pct) === null ? "—"
        : formatPct(num(r?.memory_pct), 1)) : `${formatNumber(num(r?.rss_mb), 1)} MB`),
      ...extra.flatMap((line) => {
        const [k, v] = line.split("|");
        return [h("span", { class: "k" }, k ?? ""), h("span", {}, v ?? "")];
      })));
}

function renderInfra(tick: Tick | null): void {
  const grid = document.querySelector("[data-role=infra-grid]")!;
  const infra = tick?.infra ?? null;
  setText(document.querySelector("[data-role=infra-hint]"),
    infra ? `second ${formatClock(tick?.elapsed_s)}` : "");
  if (!infra) {
    grid.replaceChildren(h("p", { class: "empty" }, tick
      ? "This runtime reports no process figures."
      : "Waiting for a run: process figures arrive with each second."));
    return;
  }
  const host = reading(infra, "host");
  const network = reading(infra, "network");
  const workers = Array.isArray(infra.workers) ? infra.workers.length : null;
  grid.replaceChildren(
    procCard("Target service", reading(infra, "target")),
    procCard("Load generator", reading(infra, "generator"),
      workers === null ? [] : [`Workers|${workers}`]),
    procCard("Host", host, [`CPUs|${num(host?.cpus) ?? "—"}`]),
    h("div", { class: "infra-proc" }, h("h3", {}, "Network"),
      h("div", { class: "kv" }, h("span", { class: "k" }, "Loopback"),
        h("span", {}, num(network?.loopback_mb_s) === null ? "—"
          : `${formatNumber(num(network?.loopback_mb_s), 2)} MB/s`),
        h("span", { class: "k" }, "Degradation"), h("span", {}, tick?.degradation ?? "—"))),
  );
}

function renderCost(tick: Tick | null): void {
  const kv = document.querySelector("[data-role=cost-kv]")!;
  if (!tick) {
    kv.replaceChildren(h("p", { class: "empty" }, "Waiting for a run."));
    return;
  }
  const c = tick.cost;
  const row = (k: string, v: HTMLElement | string, testid: string) => [
    h("span", { class: "k" }, k), h("span", { "data-testid": testid }, v)];
  kv.replaceChildren(
    ...row("Current", `${formatMoney(c.usd_per_hour, "USD")} / hour`, "cost-hour"),
    ...row("Projected", `${formatMoney(c.projected_usd_per_day, "USD")} / day`, "cost-day"),
    ...row("Budget", `${formatMoney(c.budget_usd_per_day, "USD")} / day`, "cost-budget"),
    ...row("Status", h("span", { class: "budget", "data-status": c.budget_status },
      c.budget_status), "cost-status"),
    ...row("Per transaction", formatSmallMoney(c.cost_per_transaction, tick.hero.currency),
      "cost-txn"),
    ...row("Prices", c.pricing_source, "cost-source"),
    ...row("Basis", c.basis === "modelled" ? `modelled — ${c.model.replace(/^modelled: /, "")}`
      : "reported by the platform", "cost-basis"),
  );
}

function renderCharts(s: LiveState): void {
  const history = s.history;
  const now = s.latest?.elapsed_s ?? 0;
  const xMax = s.run ? Math.max(s.run.duration_s, now) : undefined;
  const shading = faultAreas(faultWindows(s.run, s.events, history), now);
  const series = (name: string, color: string, pick: (t: Tick) => number | null, first = false) => ({
    name, type: "line", showSymbol: false, smooth: 0.2, lineStyle: { width: 2, color },
    itemStyle: { color }, data: history.map((t) => [t.second, pick(t)]),
    markArea: first ? shading : undefined,
  });
  charts.cpu!.setOption({
    ...baseOption(), xAxis: timeAxis(xMax), yAxis: valueAxis("CPU %", { min: 0 }),
    series: [
      series("target", COLORS.sky, (t) => num(reading(t.infra, "target")?.cpu_pct), true),
      series("generator", COLORS.violet, (t) => num(reading(t.infra, "generator")?.cpu_pct)),
      series("host", COLORS.faint, (t) => num(reading(t.infra, "host")?.cpu_pct)),
    ],
  }, UPDATE);
  charts.memory!.setOption({
    ...baseOption(), xAxis: timeAxis(xMax), yAxis: valueAxis("MB", { min: 0 }),
    series: [
      series("target", COLORS.sky, (t) => num(reading(t.infra, "target")?.rss_mb), true),
      series("generator", COLORS.violet, (t) => num(reading(t.infra, "generator")?.rss_mb)),
    ],
  }, UPDATE);
}

async function setup(ctx: PageContext): Promise<void> {
  api = ctx.api;
  ctxRef = ctx;
  session = ctx.session;
  if (api.runtime === "local") api.token = tokenFromUrl;
  ctx.main.append(
    h("div", { class: "page-title-row" },
      h("h1", { class: "page-title" }, "Infrastructure & operations"),
      h("div", { class: "page-sub", "data-role": "run-sub" }, "")),
    h("div", { class: "admin-top" }, controlsPanel(), infraPanel(), costPanel()),
    h("div", { class: "admin-bottom fill" },
      chartPanel(charts, "cpu", "CPU", "% of one core, summed over each side's processes"),
      chartPanel(charts, "memory", "Memory", "resident set size"),
      historyPanel()),
  );
  updateToken();
  if (api.runtime === "aws") {
    if (!session) {
      show(el("control-result"), false, "config.json names no operator pool (user_pool_id, " +
        "user_pool_client_id): sign-in is not possible");
      return;
    }
    session.onChange((auth) => {
      renderAuth(auth);
      updateToken();
      if (auth.current.step === "signed-in") {
        ctx.startLive();
        if (!listsLoaded) void loadLists();
      }
    });
    renderAuth(session.state);
    if (!session.signedIn) return;
    ctx.startLive();
  }
  await loadLists();
}

async function loadLists(): Promise<void> {
  listsLoaded = true;
  const [scenarios, types] = await Promise.allSettled([api.scenarios(), api.faultTypes()]);
  const scenarioSelect = el<HTMLSelectElement>("scenario-select");
  if (scenarios.status === "fulfilled") {
    const list: ScenarioInfo[] = scenarios.value;
    scenarioSelect.replaceChildren(...list.map((s) => h("option", {
      value: s.name, selected: s.name === "smoke",
      title: typeof s.description === "string" ? s.description : null }, s.name)));
  } else {
    show(el("control-result"), false, `scenarios: ${errorMessage(scenarios.reason)}`);
  }
  const typeSelect = el<HTMLSelectElement>("fault-type");
  if (types.status === "fulfilled") {
    faultTypes = types.value;
    typeSelect.replaceChildren(...faultTypes.map((f) => h("option", { value: f.type },
      humanize(f.type))));
    typeSelect.dispatchEvent(new Event("change"));
  } else {
    show(el("control-result"), false, `fault types: ${errorMessage(types.reason)}`);
  }
  await refreshRuns();
}

function render(s: LiveState): void {
  state = s;
  const tick = s.latest;
  setText(document.querySelector("[data-role=run-sub]"), s.run
    ? `${s.run.scenario} · ${s.run.status} · ${s.run.run_id}` : "no run yet");
  if (!el("controls")) return;
  updateButtons();
  renderInfra(tick);
  renderCost(tick);
  renderCharts(s);
  const runId = s.run?.run_id ?? null;
  const status = s.run?.status ?? null;
  if (runId !== lastRunId || status !== lastStatus) {
    lastRunId = runId;
    lastStatus = status;
    void refreshRuns();
  } else {
    renderRuns();
  }
}

void boot("admin", setup, render);
