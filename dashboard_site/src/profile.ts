/** Presentation profiles (investor, engineering, board): audience, currency, emphasis, wording. */

export const HERO_METRICS = [
  "transactions_processed", "fraud_blocked", "money_saved", "uptime_pct", "current_tps",
  "ai_accuracy",
] as const;
export type HeroMetric = (typeof HERO_METRICS)[number];

export interface Profile {
  name: string;
  audience: string;
  /** ISO-4217 currency money is shown in; null keeps the run's own currency. */
  currency: string | null;
  /** Hero metrics in the order this audience cares about. */
  emphasis: HeroMetric[];
  /** Wording: labels per metric, titles, and the optional narrative template. */
  wording: Record<string, string>;
  /** Benchmark ids to show (empty: every sourced benchmark). */
  benchmarks: string[];
  /** Cinematic mode: seconds per view. */
  cycle_s: number;
}

/** Plain words for people who are not engineers; a profile may override any of them. */
export const DEFAULT_WORDING: Readonly<Record<string, string>> = {
  title: "Fraud detection platform",
  subtitle: "Live stress test",
  transactions_processed: "Transactions checked",
  fraud_blocked: "Fraud stopped",
  money_saved: "Money protected",
  uptime_pct: "Always on",
  current_tps: "Checks per second",
  ai_accuracy: "Decisions correct",
  flow_title: "Every transaction, checked by four AI agents in real time",
  // The bundled reference service's agents are simulated rules, never called AI.
  flow_title_reference: "Every transaction, checked by four simulated agents (reference service)",
  value_title: "Business value",
  resilience_title: "Resilience",
  benchmarks_title: "How this compares",
};

const DEFAULT_PROFILE_CYCLE_S = 12;

export const DEFAULT_PROFILE: Profile = {
  name: "default",
  audience: "everyone",
  currency: null,
  emphasis: [...HERO_METRICS],
  wording: { ...DEFAULT_WORDING },
  benchmarks: [],
  cycle_s: DEFAULT_PROFILE_CYCLE_S,
};

function isHeroMetric(value: unknown): value is HeroMetric {
  return typeof value === "string" && (HERO_METRICS as readonly string[]).includes(value);
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value !== "object" || value === null) return out;
  // An empty string means "not set": the default wording stays.
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === "string" && item.trim()) out[key] = item;
    else if (typeof item === "object" && item !== null) {
      for (const [inner, text] of Object.entries(item)) {
        if (typeof text === "string" && text.trim()) out[inner] = text; // labels flatten
      }
    }
  }
  return out;
}

/** A profile from the control API's JSON, with defaults for whatever it leaves out. */
export function normalizeProfile(name: string, raw: unknown): Profile {
  const body = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const emphasisRaw = Array.isArray(body.emphasis) ? body.emphasis : [];
  const emphasis = emphasisRaw.filter(isHeroMetric);
  for (const metric of HERO_METRICS) if (!emphasis.includes(metric)) emphasis.push(metric);
  const currency = typeof body.currency === "string" && /^[A-Z]{3}$/.test(body.currency)
    ? body.currency : null;
  const benchmarks = Array.isArray(body.benchmarks)
    ? body.benchmarks.filter((b): b is string => typeof b === "string")
    : Array.isArray(body.benchmark_ids)
      ? body.benchmark_ids.filter((b): b is string => typeof b === "string") : [];
  return {
    name: typeof body.name === "string" ? body.name : name,
    audience: typeof body.audience === "string" ? body.audience : name,
    currency,
    emphasis,
    wording: { ...DEFAULT_WORDING, ...stringMap(body.wording) },
    benchmarks,
    cycle_s: typeof body.cycle_s === "number" && body.cycle_s >= 3 && body.cycle_s <= 600
      ? body.cycle_s : DEFAULT_PROFILE_CYCLE_S,
  };
}

/** The profile name from the page URL: ?profile=investor|engineering|board. */
export function profileFromUrl(search: string): string | null {
  const value = new URLSearchParams(search).get("profile");
  return value && /^[a-z0-9_-]{1,40}$/.test(value) ? value : null;
}

/**
 * Money from one currency to another through USD, using the config's USD value of one
 * unit of each; null when either rate is unknown (the caller then keeps the original).
 */
export function convertMoney(
  amount: number, from: string, to: string, usdPerUnit: Record<string, number>,
): number | null {
  if (from === to) return amount;
  const fromRate = usdPerUnit[from];
  const toRate = usdPerUnit[to];
  if (!fromRate || !toRate || !Number.isFinite(fromRate) || !Number.isFinite(toRate)) return null;
  return (amount * fromRate) / toRate;
}

/** Fill "{name}" placeholders; unknown names become empty. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, key: string) => values[key] ?? "")
    .replace(/\s+([,.;])/g, "$1").replace(/\s{2,}/g, " ").trim();
}
