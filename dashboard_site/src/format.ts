/** Number, money, time and name formatting for every page (fixed en-US grouping). */

const LOCALE = "en-US";

export function formatInt(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return Math.round(value).toLocaleString(LOCALE);
}

export function formatNumber(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString(LOCALE, { minimumFractionDigits: digits,
                                        maximumFractionDigits: digits });
}

/** 1234 → "1,234"; 15_230_000 → "15.2M": big numbers stay readable from across a room. */
export function formatCompact(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs < 100_000) return formatInt(value);
  const units: [number, string][] = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const scaled = value / size;
      const digits = Math.abs(scaled) >= 100 ? 0 : 1;
      return `${scaled.toFixed(digits)}${suffix}`;
    }
  }
  return formatInt(value);
}

export function currencyDigits(currency: string): number {
  try {
    return new Intl.NumberFormat(LOCALE, { style: "currency", currency })
      .resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** Money in its ISO-4217 currency with that currency's minor units. */
export function formatMoney(
  amount: number | null | undefined, currency: string,
  options: { compact?: boolean; digits?: number } = {},
): string {
  if (amount === null || amount === undefined || !Number.isFinite(amount)) return "—";
  try {
    if (options.compact && Math.abs(amount) >= 100_000) {
      return new Intl.NumberFormat(LOCALE, {
        style: "currency", currency, notation: "compact", maximumFractionDigits: 1,
      }).format(amount);
    }
    const digits = options.digits ?? currencyDigits(currency);
    return new Intl.NumberFormat(LOCALE, {
      style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(amount);
  } catch {
    return `${formatNumber(amount, 2)} ${currency}`;
  }
}

/** A small amount (cost per transaction) with enough significant digits to mean something. */
export function formatSmallMoney(amount: number | null | undefined, currency: string): string {
  if (amount === null || amount === undefined || !Number.isFinite(amount)) return "—";
  if (amount === 0) return formatMoney(0, currency);
  const digits = Math.min(8, Math.max(currencyDigits(currency),
                                      2 - Math.floor(Math.log10(Math.abs(amount)))));
  return formatMoney(amount, currency, { digits });
}

export function formatPct(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${formatNumber(value, digits)}%`;
}

/** 0.0123 (a rate) → "1.23%". */
export function formatRate(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return formatPct(value * 100, digits);
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (value >= 10_000) return `${formatNumber(value / 1000, 1)} s`;
  if (value >= 1000) return `${formatNumber(value / 1000, 2)} s`;
  if (value >= 100) return `${formatInt(value)} ms`;
  return `${formatNumber(value, 1)} ms`;
}

/** Seconds as a clock: 75 → "1:15", 3725 → "1:02:05". */
export function formatClock(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return "—";
  }
  const total = Math.floor(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

/** Seconds in words for people: 8 → "8 seconds", 134 → "2 minutes 14 seconds". */
export function formatSpoken(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return "—";
  }
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  // Results come once a second: finer than a whole second would be false precision.
  if (seconds < 0.5) return "less than a second";
  const total = Math.round(seconds);
  if (total < 60) return plural(total, "second");
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return [plural(h, "hour"), m ? plural(m, "minute") : ""].filter(Boolean).join(" ");
  return [plural(m, "minute"), s ? plural(s, "second") : ""].filter(Boolean).join(" ");
}

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;",
};

/** Text made safe inside HTML: ECharts renders a tooltip formatter's string as markup. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"'`]/g, (c) => HTML_ENTITIES[c] ?? c);
}

const ACRONYMS = new Set(["ai", "atm", "cnp", "http", "cpu", "api", "id", "fx", "tps"]);

/** "geographic_risk" → "Geographic risk", "atm_cashout" → "ATM cashout". */
export function humanize(name: string): string {
  const words = name.replace(/[_-]+/g, " ").trim().split(/\s+/)
    .map((w) => (ACRONYMS.has(w.toLowerCase()) ? w.toUpperCase() : w));
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${formatNumber(value, unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const ERROR_CLASS_LABELS: Record<string, string> = {
  connect: "Connection", http_4xx: "HTTP 4xx", http_429: "HTTP 429 throttled",
  http_5xx: "HTTP 5xx", invalid_response: "Invalid response", oversized: "Oversized answer",
  other: "Other",
};

/** The name of an error class (stresslab.measurement.metrics.ERROR_CLASSES) for people. */
export function errorClassLabel(name: string): string {
  return ERROR_CLASS_LABELS[name] ?? humanize(name);
}

/** A timestamp short enough for a table: time only when it is today. */
export function formatWhen(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const time = date.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit",
                                                  second: "2-digit", hour12: false });
  return date.toDateString() === now.toDateString() ? time
    : `${date.toLocaleDateString(LOCALE, { month: "short", day: "numeric" })} ${time}`;
}
