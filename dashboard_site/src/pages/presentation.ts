/** The investor presentation: big live numbers, the transaction flow, value, resilience. */

import { sourcedBenchmarks } from "../api";
import {
  decisionShares, downtimeSeconds, interpolatedElapsed, peakOk, type ResilienceMoment,
  resilienceMoment, roi,
} from "../derive";
import { degradationInWords } from "../degradation";
import { TransactionFlow } from "../flow";
import {
  formatClock, formatCompact, formatInt, formatMoney, formatNumber, formatPct,
  formatSmallMoney, formatSpoken, humanize,
} from "../format";
import type { LiveState } from "../live";
import { narrative } from "../narrative";
import {
  convertMoney, DEFAULT_PROFILE, type HeroMetric, normalizeProfile, type Profile,
  profileFromUrl,
} from "../profile";
import type { Benchmark, ServerMessage, TargetIdentity, Tick } from "../protocol";
import { AnimatedNumber } from "../ui/animated";
import { append, h, setText } from "../ui/dom";
import { boot, type PageContext } from "../ui/shell";
import { Sparkline } from "../ui/sparkline";

const SPARK_SECONDS = 90;

interface HeroCard {
  metric: HeroMetric;
  root: HTMLElement;
  value: AnimatedNumber;
  label: HTMLElement;
  note: HTMLElement;
  spark: Sparkline | null;
}

const page = {
  profile: DEFAULT_PROFILE as Profile,
  profileNote: "",
  profileNames: [] as string[],
  fx: {} as Record<string, number>,
  cards: new Map<HeroMetric, HeroCard>(),
  flow: null as TransactionFlow | null,
  benchmarks: [] as Benchmark[],
  benchmarksLoaded: false,
  state: null as LiveState | null,
  latestReceivedMs: 0,
  cinematic: false,
  scene: 0,
  sceneTimer: 0,
};

/** Run-currency money in the audience's currency (or the run's when no rate is known). */
function money(amount: number, from: string): { amount: number; currency: string } {
  const to = page.profile.currency ?? from;
  const converted = convertMoney(amount, from, to, page.fx);
  return converted === null ? { amount, currency: from } : { amount: converted, currency: to };
}

function heroMoney(amount: number, currency: string): string {
  return Math.abs(amount) >= 10_000_000
    ? formatMoney(amount, currency, { compact: true })
    : formatMoney(amount, currency, { digits: Math.abs(amount) >= 1000 ? 0 : undefined });
}

function heroInt(value: number): string {
  return Math.abs(value) >= 10_000_000 ? formatCompact(value) : formatInt(value);
}

const FORMATS: Record<HeroMetric, (v: number) => string> = {
  transactions_processed: heroInt,
  fraud_blocked: heroInt,
  money_saved: (v) => heroMoney(v, "USD"),
  uptime_pct: (v) => formatPct(v, v >= 99.995 || v <= 0 ? 0 : 2),
  current_tps: (v) => formatInt(v),
  ai_accuracy: (v) => formatPct(v, 1),
};

const SPARK_COLORS: Partial<Record<HeroMetric, string>> = {
  current_tps: "#38bdf8", ai_accuracy: "#a78bfa", uptime_pct: "#34d399",
};

function heroCard(metric: HeroMetric): HeroCard {
  const value = h("div", { class: "hero-value", "data-metric": metric, "data-value": "",
                           "data-testid": `hero-${metric}` });
  const label = h("div", { class: "hero-label" }, page.profile.wording[metric] ?? metric);
  const note = h("div", { class: "hero-note" });
  const color = SPARK_COLORS[metric];
  const spark = color ? new Sparkline(color) : null;
  const root = h("article", { class: `hero-card hero-${metric}` }, label, value, note,
    spark ? spark.element : null);
  return { metric, root, value: new AnimatedNumber(value, FORMATS[metric]), label, note, spark };
}

function panel(cls: string, title: string, testid: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", { class: `panel scene ${cls}`, "data-testid": testid },
    h("h2", { class: "panel-title" }, title), ...body);
}

function build(ctx: PageContext): void {
  const wording = page.profile.wording;
  const hero = h("section", { class: "hero-grid", "data-testid": "hero" });
  for (const metric of page.profile.emphasis) {
    const card = heroCard(metric);
    page.cards.set(metric, card);
    hero.append(card.root);
  }
  const canvas = h("canvas", { class: "flow-canvas", "data-testid": "flow-canvas" });
  const flowPanel = panel("scene-flow", flowTitle(null), "flow",
    h("div", { class: "flow-wrap" }, canvas),
    h("div", { class: "flow-legend", "data-role": "flow-legend" }));
  const valuePanel = panel("scene-value", wording.value_title ?? "", "business-value",
    h("div", { class: "value-grid", "data-role": "value-grid" }));
  const resiliencePanel = panel("scene-resilience", wording.resilience_title ?? "", "resilience",
    h("div", { class: "resilience", "data-role": "resilience" }));
  const benchPanel = panel("scene-benchmarks", wording.benchmarks_title ?? "", "benchmarks",
    h("div", { class: "bench-list", "data-role": "bench-list" }));
  const controls = h("div", { class: "pres-controls controls" },
    h("label", { class: "select-label" }, "Audience",
      h("select", { "data-testid": "profile-select", onchange: (e: Event) => {
        const name = (e.target as HTMLSelectElement).value;
        const url = new URL(window.location.href);
        if (name) url.searchParams.set("profile", name);
        else url.searchParams.delete("profile");
        window.location.href = url.toString();
      } },
      ...["", ...page.profileNames].map((name) => h("option", {
        value: name, selected: (profileFromUrl(window.location.search) ?? "") === name,
      }, name ? humanize(name) : "Default")))),
    h("button", { class: "button primary", "data-testid": "cinematic-toggle",
                  onclick: () => setCinematic(!page.cinematic, true) }, "Cinematic mode"));
  append(ctx.main,
    h("section", { class: "pres-head" },
      h("div", { class: "pres-titles" },
        h("h1", { class: "pres-title" }, wording.title ?? ""),
        h("div", { class: "pres-subtitle", "data-role": "subtitle" }, wording.subtitle ?? "")),
      controls),
    h("p", { class: "narrative", "data-testid": "narrative" }, ""),
    page.profileNote ? h("p", { class: "notice" }, page.profileNote) : null,
    hero,
    h("div", { class: "stage", "data-testid": "stage" }, flowPanel, valuePanel, resiliencePanel,
      benchPanel),
    h("div", { class: "scene-dots", "data-role": "scene-dots" }),
  );
  page.flow = new TransactionFlow(canvas);
  page.flow.start();
  window.setInterval(() => tickClock(), 200);
  document.addEventListener("keydown", (e) => {
    if (!page.cinematic) return;
    if (e.key === "Escape") setCinematic(false, false);
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      // the presenter takes over the pace: the next view comes after a full cycle again
      showScene(page.scene + (e.key === "ArrowRight" ? 1 : -1));
      window.clearInterval(page.sceneTimer);
      page.sceneTimer = window.setInterval(() => showScene(page.scene + 1),
        page.profile.cycle_s * 1000);
    }
  });
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement && page.cinematic) setCinematic(false, false);
  });
}

function scenes(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>(".stage > .scene")].filter(
    (s) => !s.classList.contains("is-empty"));
}

function showScene(index: number): void {
  const list = scenes();
  if (!list.length) return;
  page.scene = ((index % list.length) + list.length) % list.length;
  list.forEach((s, i) => s.classList.toggle("current", i === page.scene));
  const dots = document.querySelector("[data-role=scene-dots]");
  dots?.replaceChildren(...list.map((_, i) =>
    h("span", { class: i === page.scene ? "dot on" : "dot" })));
}

function setCinematic(on: boolean, fullscreen: boolean): void {
  page.cinematic = on;
  document.body.classList.toggle("cinematic", on);
  window.clearInterval(page.sceneTimer);
  const url = new URL(window.location.href);
  if (on) url.searchParams.set("cinematic", "1");
  else url.searchParams.delete("cinematic");
  window.history.replaceState(null, "", url.toString());
  if (on) {
    showScene(0);
    page.sceneTimer = window.setInterval(() => showScene(page.scene + 1),
      page.profile.cycle_s * 1000);
    if (fullscreen && document.documentElement.requestFullscreen && !document.fullscreenElement) {
      document.documentElement.requestFullscreen().catch(() => undefined);
    }
  } else {
    document.querySelectorAll(".scene.current").forEach((s) => s.classList.remove("current"));
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
  }
}

function updateHero(state: LiveState, tick: Tick | null): void {
  const history = state.history;
  const heroData = tick?.hero;
  const set = (metric: HeroMetric, value: number | null, note: string) => {
    const card = page.cards.get(metric);
    if (!card) return;
    card.value.set(value);
    setText(card.note, note);
  };
  if (!heroData) {
    for (const metric of page.profile.emphasis) set(metric, null, "waiting for a run");
    for (const card of page.cards.values()) card.spark?.update([]);
    return;
  }
  const shown = money(heroData.money_saved, heroData.currency);
  const moneyCard = page.cards.get("money_saved");
  moneyCard?.value.setFormat((v) => heroMoney(v, shown.currency));
  if (moneyCard) moneyCard.value.element.dataset.currency = shown.currency;
  const { down, counted } = downtimeSeconds(history);
  const recall = tick.totals.recall;
  set("transactions_processed", heroData.transactions_processed,
    `in ${formatSpoken(tick.elapsed_s)}`);
  set("fraud_blocked", heroData.fraud_blocked,
    recall === null || recall === undefined ? "fraud attempts caught"
      : `${formatPct(recall * 100, 1)} of fraud attempts caught`);
  set("money_saved", shown.amount, "fraud stopped before the money left");
  set("uptime_pct", heroData.uptime_pct,
    counted ? `${formatInt(counted - down)} of ${formatInt(counted)} seconds fully up`
      : "measured every second");
  const over = state.run !== null && !["running", "starting"].includes(state.run.status);
  set("current_tps", heroData.current_tps, over
    ? `run over · best ${formatInt(peakOk(history))} a second`
    : `best so far ${formatInt(peakOk(history))} a second`);
  set("ai_accuracy", heroData.ai_accuracy, "checked against the known truth");
  const recent = history.slice(-SPARK_SECONDS);
  page.cards.get("current_tps")?.spark?.update(recent.map((t) => t.window.ok));
  page.cards.get("ai_accuracy")?.spark?.update(
    recent.map((t) => (t.window.accuracy === null ? null : t.window.accuracy * 100)));
  page.cards.get("uptime_pct")?.spark?.update(recent.map((t) => t.hero.uptime_pct));
}

/** Decisions over the whole run so far (for the flow's legend once the run is over). */
function runShares(history: Tick[]): ReturnType<typeof decisionShares> {
  const decisions: Record<string, number> = {};
  for (const t of history) {
    for (const [name, n] of Object.entries(t.window.decisions ?? {})) {
      decisions[name] = (decisions[name] ?? 0) + n;
    }
  }
  return decisionShares({ decisions });
}

function updateFlow(state: LiveState, tick: Tick | null): void {
  if (!page.flow) return;
  // Once the run is over nothing flows: the dots stop rather than replay its last second.
  const live = !state.run || state.run.status === "running" || state.run.status === "starting";
  const w = live ? tick?.window : undefined;
  const agents = (tick?.agents ?? []).map((a) => {
    const recent = w?.agents?.[a.name];
    return {
      name: a.name, label: humanize(a.name), health: a.health,
      avg_ms: recent?.avg_ms ?? a.avg_ms,
      error_share: recent && recent.calls ? recent.errors / recent.calls : 0,
    };
  });
  const answered = w?.ok ?? 0;
  const failed = w ? w.errors + w.timeouts : 0;
  page.flow.update({ answered_per_s: answered, failed_per_s: failed,
                     shares: live ? decisionShares(w) : runShares(state.history), agents });
  const legend = document.querySelector("[data-role=flow-legend]");
  const perDot = Number(document.querySelector<HTMLElement>("[data-testid=flow-canvas]")
    ?.dataset.perDot ?? "1");
  setText(legend, !live && tick
    ? "The run is over: the shares are those of the whole run."
    : w && answered + failed > 0
    ? `${formatInt(answered)} ${answered === 1 ? "transaction" : "transactions"} decided in the last second · each dot is ${
        perDot === 1 ? "one transaction" : `${formatInt(perDot)} transactions`}`
    : "The flow starts with the first transactions.");
}

function valueItem(title: string, value: string, note: string, testid: string): HTMLElement {
  return h("div", { class: "value-item", "data-testid": testid },
    h("div", { class: "value-title" }, title),
    h("div", { class: "value-figure" }, value),
    h("div", { class: "value-note" }, note));
}

function updateValue(state: LiveState, tick: Tick | null): void {
  const grid = document.querySelector<HTMLElement>("[data-role=value-grid]");
  if (!grid) return;
  if (!tick) {
    grid.replaceChildren(h("p", { class: "empty" },
      "Waiting for a run: cost, accuracy and return appear with the first results."));
    return;
  }
  const currency = tick.hero.currency;
  const perTxn = money(tick.cost.cost_per_transaction, currency);
  const saved = money(tick.hero.money_saved, currency);
  const r = roi(tick.hero.money_saved, tick.cost.cost_per_transaction,
    tick.hero.transactions_processed);
  const spent = money(r.cost, currency);
  const { down, counted } = downtimeSeconds(state.history);
  const one = formatMoney(1, spent.currency, { digits: 0 });
  const modelled = tick.cost.basis === "modelled" ? " (modelled)" : "";
  grid.dataset.costBasis = tick.cost.basis ?? "modelled";
  grid.replaceChildren(
    valueItem(`Cost to check one transaction${modelled}`,
      formatSmallMoney(perTxn.amount, perTxn.currency),
      modelled ? "modelled: model tokens per agent call declared in the price table, at cloud "
        + "list prices" : "from the platform's reported usage, at cloud list prices",
      "value-cost"),
    valueItem("Decisions correct", formatPct(tick.hero.ai_accuracy, 1),
      "against the known truth of every test transaction", "value-accuracy"),
    valueItem(`Protected for every ${one} spent${modelled}`,
      r.multiple === null ? "—" : heroMoney(r.multiple, spent.currency),
      `${heroMoney(saved.amount, saved.currency)} protected for ${
        formatSmallMoney(spent.amount, spent.currency)} of checking`, "value-roi"),
    valueItem("Time unavailable", down === 0 ? "None" : formatSpoken(down),
      counted ? `over ${formatSpoken(counted)} of traffic` : "no traffic yet", "value-downtime"),
  );
}

const STAGE_WORDS: Record<ResilienceMoment["stage"], string> = {
  waiting: "No failure so far in this run.",
  planned: "A failure is coming up: watch the platform respond.",
  injected: "A failure has begun. Watching the impact…",
  detected: "Spotted. The platform keeps deciding while it recovers.",
  recovering: "The failure is over; getting back to normal…",
  recovered: "Back to normal.",
  absorbed: "Absorbed with no visible impact on customers.",
};

function step(title: string, at: string, done: boolean, testid: string): HTMLElement {
  return h("div", { class: done ? "r-step done" : "r-step", "data-testid": testid },
    h("span", { class: "r-dot" }), h("div", { class: "r-title" }, title),
    h("div", { class: "r-at" }, at));
}

function updateResilience(state: LiveState): void {
  const box = document.querySelector<HTMLElement>("[data-role=resilience]");
  if (!box) return;
  const m = resilienceMoment(state.run, state.events, state.history);
  box.dataset.stage = m.stage;
  const since = (t: number | null) =>
    t === null || m.injected_at === null ? "" : `+${formatSpoken(Math.max(0, t - m.injected_at))}`;
  const what = m.label ? `${m.label}${m.target ? ` (${humanize(m.target)})` : ""}` : "";
  const children: HTMLElement[] = [
    h("div", { class: "r-headline", "data-testid": "resilience-stage" }, STAGE_WORDS[m.stage]),
  ];
  if (m.stage === "planned" && m.planned_at !== null) {
    children.push(h("div", { class: "r-what" }, `${what} at ${formatClock(m.planned_at)}`));
  }
  if (m.injected_at !== null) {
    children.push(h("div", { class: "r-what" }, what),
      h("div", { class: "r-steps" },
        step("Failure begins", formatClock(m.injected_at), true, "r-injected"),
        step("Spotted", m.detected_at === null
          ? (m.stage === "absorbed" ? "no impact" : "…") : since(m.detected_at),
          m.detected_at !== null || m.stage === "absorbed", "r-detected"),
        step("Back to normal", m.recovered_at === null
          ? (m.stage === "absorbed" ? since(m.cleared_at) : "…") : since(m.recovered_at),
          m.recovered_at !== null || m.stage === "absorbed", "r-recovered")),
      h("div", { class: "r-timer-wrap" },
        h("div", { class: "r-timer-label" },
          m.recovered_at !== null || m.stage === "absorbed" ? "Total disruption" : "Recovering for"),
        h("div", { class: "r-timer", "data-testid": "recovery-timer" }, "")));
  }
  const mode = degradationInWords(state);
  if (mode) children.push(h("div", { class: "r-mode", "data-testid": "resilience-mode" }, mode));
  box.replaceChildren(...children);
  tickClock();
}

/** The live recovery timer, moving smoothly between ticks. */
function tickClock(): void {
  const state = page.state;
  const timer = document.querySelector<HTMLElement>("[data-testid=recovery-timer]");
  if (!state || !timer) return;
  const m = resilienceMoment(state.run, state.events, state.history);
  if (m.injected_at === null) return;
  const latest = state.latest?.elapsed_s ?? m.injected_at;
  const running = state.run?.status === "running";
  let end: number;
  if (m.recovered_at !== null) end = m.recovered_at;
  else if (m.stage === "absorbed") end = m.cleared_at ?? latest;
  else end = interpolatedElapsed(latest, page.latestReceivedMs, Date.now(), running);
  const seconds = Math.max(0, end - m.injected_at);
  timer.dataset.value = seconds.toFixed(1);
  setText(timer, seconds < 60 ? `${formatNumber(seconds, 1)} s` : formatClock(seconds));
}

function renderBenchmarks(): void {
  const list = document.querySelector("[data-role=bench-list]");
  const panelEl = document.querySelector<HTMLElement>("[data-testid=benchmarks]");
  if (!list || !panelEl) return;
  const shown = sourcedBenchmarks(page.benchmarks, page.profile.benchmarks);
  panelEl.classList.toggle("is-empty", page.benchmarksLoaded && shown.length === 0);
  if (!shown.length) {
    list.replaceChildren(h("p", { class: "empty" }, page.benchmarksLoaded
      ? "No sourced comparisons are configured, so none are shown."
      : "Loading comparisons…"));
    return;
  }
  list.replaceChildren(...shown.map((b) => {
    const source = b.source!;
    const isUrl = /^https?:\/\//.test(source.url_or_path);
    const [figure, unit] = formatBenchmark(b);
    return h("div", { class: "bench", "data-testid": `benchmark-${b.id}`, title: b.note || null },
      h("div", { class: "bench-figure" }, figure, unit ? h("span", { class: "bench-unit" }, unit)
        : null),
      h("div", { class: "bench-label" }, b.label),
      h("div", { class: "bench-source" }, "Source: ",
        isUrl ? h("a", { href: source.url_or_path, target: "_blank", rel: "noopener" },
          source.title) : h("span", { title: source.url_or_path }, source.title),
        source.date ? ` (${source.date})` : ""));
  }));
}

/** The figure and its unit, as the benchmark file gives them (nothing rescaled). */
function formatBenchmark(b: Benchmark): [string, string] {
  const unit = b.unit.trim();
  if (unit === "%") return [formatPct(b.value, b.value % 1 === 0 ? 0 : 1), ""];
  if (/^[A-Z]{3}$/.test(unit)) return [formatMoney(b.value, unit, { compact: true }), ""];
  const decimals = (String(b.value).split(".")[1] ?? "").length;
  return [formatNumber(b.value, Math.min(decimals, 3)), unit];
}

/** The flow's title: a real platform's agents are AI agents; the reference service's are not. */
function flowTitle(system: TargetIdentity | null): string {
  const wording = page.profile.wording;
  return (system?.reference ? wording.flow_title_reference : wording.flow_title) ?? "";
}

function render(state: LiveState, message: ServerMessage | null): void {
  page.state = state;
  if (message?.type === "tick" || message?.type === "snapshot") page.latestReceivedMs = Date.now();
  const tick = state.latest;
  const subtitle = document.querySelector("[data-role=subtitle]");
  const running = state.run?.status === "running";
  const system = state.run?.system_under_test ?? null;
  setText(subtitle, state.run
    ? `${page.profile.wording.subtitle ?? ""}${system ? ` of ${system.label}` : ""} · ${
      running ? "running now" : state.run.status}`
    : `${page.profile.wording.subtitle ?? ""} · waiting for a run`);
  setText(document.querySelector("[data-testid=flow] .panel-title"), flowTitle(system));
  updateHero(state, tick);
  updateFlow(state, tick);
  updateValue(state, tick);
  updateResilience(state);
  const m = resilienceMoment(state.run, state.events, state.history);
  const currency = tick?.hero.currency ?? "USD";
  const saved = money(tick?.hero.money_saved ?? 0, currency);
  const line = narrative({
    running: running || (!state.run && !!tick),
    hasData: !!tick,
    elapsed_s: tick?.elapsed_s ?? 0,
    transactions: tick?.hero.transactions_processed ?? 0,
    fraud_blocked: tick?.hero.fraud_blocked ?? 0,
    money: heroMoney(saved.amount, saved.currency),
    accuracy_pct: tick?.hero.ai_accuracy ?? null,
    checks_per_second: tick?.hero.current_tps ?? 0,
    resilience: m,
  }, page.profile.wording.narrative);
  setText(document.querySelector("[data-testid=narrative]"), line);
}

async function setup(ctx: PageContext): Promise<void> {
  page.fx = ctx.config.fx_usd_per_unit;
  const name = profileFromUrl(window.location.search);
  if (name) {
    try {
      page.profile = normalizeProfile(name, await ctx.api.profile(name));
    } catch (error) {
      page.profileNote = `Presentation profile “${name}” could not be loaded (${
        error instanceof Error ? error.message : String(error)}); showing the default wording.`;
    }
  }
  page.profileNames = await ctx.api.profiles().catch(() => []);
  document.body.dataset.profile = page.profile.name;
  document.title = `${page.profile.wording.title ?? "stresslab"} · live`;
  build(ctx);
  ctx.api.benchmarks().then((entries) => {
    page.benchmarks = entries;
  }).catch(() => {
    page.benchmarks = [];
  }).finally(() => {
    page.benchmarksLoaded = true;
    renderBenchmarks();
    if (page.cinematic) showScene(page.scene);
  });
  renderBenchmarks();
  if (new URLSearchParams(window.location.search).get("cinematic") === "1") {
    setCinematic(true, false);
  }
}

void boot("presentation", setup, render);
