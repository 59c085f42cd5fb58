/** The site's run-time configuration (/config.json): one build serves local and AWS. */

import type { SiteConfig } from "./protocol";

/** Resolve a possibly relative ws/api URL against the page's own origin. */
export function resolveUrls(raw: Partial<SiteConfig>, location: Pick<Location, "href" | "protocol">):
    SiteConfig {
  const api = new URL(raw.api_url || "/api", location.href).toString().replace(/\/$/, "");
  let ws = raw.ws_url || "/ws";
  if (!/^wss?:\/\//.test(ws)) {
    const http = new URL(ws, location.href);
    http.protocol = http.protocol === "https:" ? "wss:" : "ws:";
    ws = http.toString();
  }
  const fx: Record<string, number> = {};
  if (raw.fx_usd_per_unit && typeof raw.fx_usd_per_unit === "object") {
    for (const [code, value] of Object.entries(raw.fx_usd_per_unit)) {
      if (typeof value === "number" && Number.isFinite(value) && value > 0) fx[code] = value;
    }
  }
  const config: SiteConfig = {
    mode: raw.mode || "local",
    ws_url: ws,
    api_url: api,
    fx_usd_per_unit: fx,
    version: raw.version || "",
  };
  for (const key of ["region", "user_pool_id", "user_pool_client_id", "cognito_endpoint",
                     "target_url"] as const) {
    const value = raw[key];
    if (typeof value === "string" && value.trim()) config[key] = value.trim();
  }
  return config;
}

export async function loadConfig(): Promise<SiteConfig> {
  const response = await fetch(new URL("config.json", window.location.href), {
    cache: "no-store",
  });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const raw = (await response.json()) as Partial<SiteConfig>;
  return resolveUrls(raw, window.location);
}
