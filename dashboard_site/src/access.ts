/**
 * Who the page is, per runtime: on the local server anyone on the machine watches and the admin
 * token acts; on AWS an operator's Cognito id token, or a viewer link's token, opens the live
 * feed (as the query parameter ws_connect reads: ?jwt= or ?token=) and the token goes with
 * every control call.
 */

import type { SiteConfig } from "./protocol";

export type Credential =
  | { kind: "operator"; token: string }
  | { kind: "viewer"; token: string; expiresAt: number | null };

/** The `exp` claim of a JWT, epoch seconds; only read to tell a viewer their link has expired
 * (the server checks the signature). Null when the token cannot be read. */
export function tokenExpiry(token: string): number | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/")
      .padEnd(Math.ceil(payload.length / 4) * 4, "="));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : null;
  } catch {
    return null;
  }
}

/** A viewer link's token (?token= on the presentation URL the control API minted). */
export function viewerCredential(search: string): Credential | null {
  const token = new URLSearchParams(search).get("token");
  return token ? { kind: "viewer", token, expiresAt: tokenExpiry(token) } : null;
}

export function isExpired(credential: Credential | null, nowMs: number): boolean {
  return credential?.kind === "viewer" && credential.expiresAt !== null &&
    credential.expiresAt * 1000 <= nowMs;
}

/** The live feed's URL for this credential; null when the runtime needs one and there is none
 * (or the viewer link has expired). */
export function liveUrl(config: SiteConfig, credential: Credential | null,
                        nowMs: number = Date.now()): string | null {
  if (config.mode !== "aws") return config.ws_url;
  if (!credential || isExpired(credential, nowMs)) return null;
  const url = new URL(config.ws_url);
  url.searchParams.set(credential.kind === "operator" ? "jwt" : "token", credential.token);
  return url.toString();
}
