/** What every page shares: config, API, live feed, the navigation bar and the render log. */

import "@fontsource-variable/inter";
import "../styles/main.css";

import { type Credential, isExpired, liveUrl, viewerCredential } from "../access";
import { ControlApi } from "../api";
import { OperatorSession } from "../auth";
import { loadConfig } from "../config";
import { degradationBadge } from "../degradation";
import { runNoteBanner } from "../notes";
import { formatClock, formatWhen } from "../format";
import { type ConnectionStatus, LiveClient, type LiveState } from "../live";
import type { ServerMessage, SiteConfig, Tick } from "../protocol";
import { h, setText } from "./dom";

export type PageName = "presentation" | "analytics" | "agents" | "admin";

const PAGES: { name: PageName; label: string }[] = [
  { name: "presentation", label: "Presentation" },
  { name: "analytics", label: "Analytics" },
  { name: "agents", label: "Agents" },
  { name: "admin", label: "Admin" },
];

export interface PageContext {
  config: SiteConfig;
  api: ControlApi;
  live: LiveClient;
  main: HTMLElement;
  header: HTMLElement;
  /** AWS: the operator's sign-in (null on the local runtime). */
  session: OperatorSession | null;
  /** Who this page is to the runtime now (AWS), or null. */
  credential: () => Credential | null;
  /** Open the live feed once there is a credential for it (after an operator signs in). */
  startLive: () => void;
}

interface RenderRecord {
  run_id: string;
  second: number;
  window_end_epoch: number | null;
  /** when the runtime sent it (epoch s), if it says */
  published_epoch: number | null;
  /** the frame's length in characters (ASCII JSON: bytes) */
  chars: number;
  /** when the frame arrived, before parsing */
  received_ms: number;
  /** JavaScript time spent applying the tick (DOM and chart options), ms */
  script_ms: number;
  rendered_ms: number;
}

interface DebugHandle {
  renders: RenderRecord[];
  state: () => LiveState;
  status: () => ConnectionStatus;
}

declare global {
  interface Window {
    __stresslab?: DebugHandle;
  }
}

const RENDER_LOG_LIMIT = 5000;

function epochNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Record when a tick is on screen (after the next paint), for bench/dashboard_latency.py. */
export function recordRender(tick: Tick, receivedMs: number, scriptMs: number,
                             chars = 0): void {
  const handle = window.__stresslab;
  if (!handle) return;
  requestAnimationFrame(() => requestAnimationFrame(() => {
    handle.renders.push({
      run_id: tick.run_id, second: tick.second,
      window_end_epoch: tick.window_end_epoch ?? null,
      published_epoch: tick.published_epoch ?? null, chars,
      received_ms: receivedMs, script_ms: scriptMs, rendered_ms: epochNowMs(),
    });
    if (handle.renders.length > RENDER_LOG_LIMIT) handle.renders.splice(0, 1000);
  }));
}

function navigation(current: PageName): HTMLElement {
  const keep = new URLSearchParams(window.location.search);
  const profile = keep.get("profile");
  return h("nav", { class: "nav", "aria-label": "Dashboards" },
    ...PAGES.map((page) => h("a", {
      href: `${page.name}.html${profile && page.name === "presentation" ? `?profile=${profile}` : ""}`,
      class: page.name === current ? "nav-link active" : "nav-link",
      "data-testid": `nav-${page.name}`,
      "aria-current": page.name === current ? "page" : null,
    }, page.label)));
}

function header(current: PageName): HTMLElement {
  return h("header", { class: "topbar", "data-testid": "topbar" },
    h("a", { class: "brand", href: "presentation.html" },
      h("span", { class: "brand-mark", "aria-hidden": "true" }), "stresslab"),
    navigation(current),
    h("div", { class: "run-pill", "data-testid": "run-pill" },
      h("span", { class: "run-pill-status", "data-role": "run-status" }, "no run"),
      h("span", { class: "run-pill-name", "data-role": "run-name" }, ""),
      h("span", { class: "run-pill-target", "data-testid": "system-under-test",
                  title: "system under test" }, ""),
      h("span", { class: "run-pill-clock", "data-role": "run-clock" }, "")),
    h("div", { class: "degradation-badge", "data-testid": "degradation", hidden: true },
      h("span", { class: "degradation-dot", "aria-hidden": "true" }),
      h("span", { class: "degradation-text" }, "")),
    h("div", { class: "run-note", "data-testid": "run-note", role: "status", hidden: true }, ""),
    h("div", { class: "conn", "data-testid": "connection", "data-status": "connecting",
               title: "live connection" },
      h("span", { class: "conn-dot" }), h("span", { class: "conn-text" }, "connecting")));
}

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  connecting: "connecting", open: "live", closed: "reconnecting",
};

function updateHeader(top: HTMLElement, state: LiveState): void {
  const run = state.run;
  const status = run?.status ?? (state.latest ? "running" : "no run");
  const pill = top.querySelector<HTMLElement>(".run-pill");
  if (pill) pill.dataset.status = status;
  setText(top.querySelector("[data-role=run-status]"), status);
  setText(top.querySelector("[data-role=run-name]"), run?.scenario ?? "");
  const system = run?.system_under_test ?? null;
  const target = top.querySelector<HTMLElement>("[data-testid=system-under-test]");
  if (target) {
    target.dataset.reference = String(system?.reference ?? false);
    setText(target, system ? `vs ${system.label}` : "");
  }
  const elapsed = state.latest?.elapsed_s;
  setText(top.querySelector("[data-role=run-clock]"),
    elapsed === undefined ? "" : run ? `${formatClock(elapsed)} / ${formatClock(run.duration_s)}`
      : formatClock(elapsed));
  const badge = degradationBadge(state);
  const shown = top.querySelector<HTMLElement>(".degradation-badge");
  if (shown) {
    shown.hidden = badge === null;
    shown.dataset.level = badge?.level ?? "NONE";
    shown.title = badge?.title ?? "";
    setText(shown.querySelector(".degradation-text"), badge?.text ?? "");
  }
  const note = runNoteBanner(state);
  const noteShown = top.querySelector<HTMLElement>(".run-note");
  if (noteShown) {
    noteShown.hidden = note === null;
    noteShown.title = note?.title ?? "";
    setText(noteShown, note?.text ?? "");
  }
}

/** On AWS without a way in: say why in plain words (an expired link, or no sign-in). */
function accessNotice(main: HTMLElement, viewer: Credential | null, page: PageName): void {
  main.querySelector("[data-testid=access-notice]")?.remove();
  if (page === "admin" && !isExpired(viewer, Date.now())) return; // the sign-in panel says it
  const expiredAt = viewer?.kind === "viewer" && viewer.expiresAt !== null
    ? new Date(viewer.expiresAt * 1000).toISOString() : null;
  const notice = isExpired(viewer, Date.now())
    ? h("section", { class: "panel notice", "data-testid": "access-notice",
                     "data-reason": "link-expired", role: "alert" },
        h("h2", {}, "This presentation link has expired"),
        h("p", {}, `It was valid until ${formatWhen(expiredAt)}. Ask the operator who shared ` +
          "it for a new link."))
    : h("section", { class: "panel notice", "data-testid": "access-notice",
                     "data-reason": "no-credential", role: "alert" },
        h("h2", {}, "Live numbers need a presentation link or a sign-in"),
        h("p", {}, "Open the presentation link an operator shared with you, or sign in on the ",
          h("a", { href: "admin.html" }, "admin page"), " (operators)."));
  main.prepend(notice);
}

/** Show a problem the page cannot work around, in plain words. */
export function fatal(main: HTMLElement, title: string, detail: string): void {
  main.replaceChildren(h("section", { class: "panel fatal", "data-testid": "fatal" },
    h("h2", {}, title), h("p", {}, detail)));
}

/**
 * Build the page frame, read config.json, open the live feed; `render` is called with the
 * state after every message (and once at the start).
 */
export async function boot(
  page: PageName,
  setup: (ctx: PageContext) => void | Promise<void>,
  render: (state: LiveState, message: ServerMessage | null) => void,
): Promise<PageContext | null> {
  document.body.classList.add(`page-${page}`);
  const top = header(page);
  const main = h("main", { class: `main main-${page}`, id: "main" });
  document.body.replaceChildren(top, main);
  let config: SiteConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    fatal(main, "The dashboard cannot find its configuration",
      `config.json could not be read (${String(error)}). Serve the site with \`stresslab demo\`.`);
    return null;
  }
  const aws = config.mode === "aws";
  let session: OperatorSession | null = null;
  if (aws && config.user_pool_id && config.user_pool_client_id) {
    // Only the AWS runtime loads the Cognito library.
    const { CognitoIdentity } = await import("../cognito");
    session = new OperatorSession(new CognitoIdentity({
      user_pool_id: config.user_pool_id, user_pool_client_id: config.user_pool_client_id,
      cognito_endpoint: config.cognito_endpoint,
    }));
    await session.restore();
  }
  const viewer = aws ? viewerCredential(window.location.search) : null;
  const credential = (): Credential | null => {
    const bearer = session?.bearer();
    return bearer ? { kind: "operator", token: bearer } : viewer;
  };
  const live = new LiveClient(() => liveUrl(config, credential()));
  const api = new ControlApi(config.api_url, null, aws ? "aws" : "local");
  if (aws) api.credential = () => session?.bearer() ?? null;
  let started = false;
  const startLive = () => {
    if (started || liveUrl(config, credential()) === null) return;
    started = true;
    live.start();
  };
  const ctx: PageContext = { config, api, live, main, header: top, session, credential,
                             startLive };
  window.__stresslab = { renders: [], state: () => live.state, status: () => live.status };
  const conn = top.querySelector<HTMLElement>(".conn");
  live.onStatus((status) => {
    if (!conn) return;
    conn.dataset.status = status;
    setText(conn.querySelector(".conn-text"), STATUS_TEXT[status]);
  });
  await setup(ctx);
  live.onState((state, message) => {
    const { receivedMs, chars } = live.lastFrame;
    updateHeader(top, state);
    render(state, message);
    if (message?.type === "tick") {
      recordRender(message, receivedMs, epochNowMs() - receivedMs, chars);
    }
  });
  render(live.state, null);
  live.onRefused(() => {
    started = false;
    setText(conn?.querySelector(".conn-text") ?? null, "not connected");
    accessNotice(main, viewer, page);
  });
  startLive();
  // No credential (yet): the client is refused at once, which says so on the page.
  if (!started) live.start();
  return ctx;
}
