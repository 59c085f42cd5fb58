/**
 * Operator sign-in on the AWS runtime: a state machine over an identity provider (Cognito, or
 * a fake in tests): password (SRP), the new-password challenge, TOTP set-up and the TOTP
 * challenge; the tokens are kept for the tab and refreshed before they expire.
 */

export interface Tokens {
  username: string;
  idToken: string;
  accessToken: string;
  refreshToken: string;
  /** When the id token expires, epoch seconds. */
  expiresAt: number;
}

/** What the provider answers to each step: tokens, or the next challenge. */
export type AuthOutcome =
  | { kind: "tokens"; tokens: Tokens }
  | { kind: "new-password" }
  | { kind: "totp-setup" }
  | { kind: "totp" };

export interface IdentityProvider {
  signIn(username: string, password: string): Promise<AuthOutcome>;
  completeNewPassword(password: string): Promise<AuthOutcome>;
  /** The TOTP secret to put in an authenticator app (base32). */
  associateTotp(): Promise<string>;
  verifyTotpSetup(code: string): Promise<AuthOutcome>;
  answerTotp(code: string): Promise<AuthOutcome>;
  refresh(tokens: Tokens): Promise<Tokens>;
  /** The tab's tokens from an earlier sign-in, if any. */
  restore(): Promise<Tokens | null>;
  signOut(): void;
}

export type AuthStep =
  | { step: "signed-out" }
  | { step: "new-password" }
  | { step: "totp-setup"; secret: string; uri: string }
  | { step: "totp" }
  | { step: "signed-in"; username: string; expiresAt: number };

export interface AuthState {
  current: AuthStep;
  busy: boolean;
  error: string | null;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const BROWSER_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => window.setTimeout(callback, ms),
  clearTimeout: (handle) => window.clearTimeout(handle as number),
};

/** Refresh this long before the id token expires (and retry this often when it fails). */
export const REFRESH_MARGIN_S = 300;
export const REFRESH_RETRY_S = 30;
export const TOTP_ISSUER = "stresslab";

export function otpauthUri(secret: string, username: string, issuer = TOTP_ISSUER): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(username)}`;
  return `otpauth://totp/${label}?secret=${encodeURIComponent(secret)}` +
    `&issuer=${encodeURIComponent(issuer)}`;
}

function reason(error: unknown): string {
  if (error && typeof error === "object" && "message" in error) {
    const message = (error as { message: unknown }).message;
    if (typeof message === "string" && message.trim()) return message.trim().split("\n")[0]!;
  }
  return String(error);
}

export class OperatorSession {
  state: AuthState = { current: { step: "signed-out" }, busy: false, error: null };
  private tokens: Tokens | null = null;
  private username = "";
  private refreshTimer: unknown = null;
  private listeners: ((state: AuthState) => void)[] = [];

  constructor(private readonly provider: IdentityProvider,
              private readonly clock: Clock = BROWSER_CLOCK) {}

  onChange(listener: (state: AuthState) => void): void {
    this.listeners.push(listener);
  }

  /** The token every control call and the live feed carry: the id token while it is valid. */
  bearer(): string | null {
    if (!this.tokens) return null;
    return this.tokens.expiresAt * 1000 > this.clock.now() ? this.tokens.idToken : null;
  }

  get signedIn(): boolean {
    return this.state.current.step === "signed-in";
  }

  async restore(): Promise<void> {
    await this.run(async () => {
      const tokens = await this.provider.restore();
      if (tokens) this.accept(tokens);
    });
  }

  async signIn(username: string, password: string): Promise<void> {
    this.username = username.trim();
    if (!this.username || !password) {
      this.set(this.state.current, "give the username and the password");
      return;
    }
    await this.run(async () => this.follow(await this.provider.signIn(this.username, password)));
  }

  async setNewPassword(password: string): Promise<void> {
    this.expect("new-password");
    await this.run(async () => this.follow(await this.provider.completeNewPassword(password)));
  }

  async verifyTotpSetup(code: string): Promise<void> {
    this.expect("totp-setup");
    await this.run(async () => this.follow(await this.provider.verifyTotpSetup(code.trim())));
  }

  async answerTotp(code: string): Promise<void> {
    this.expect("totp");
    await this.run(async () => this.follow(await this.provider.answerTotp(code.trim())));
  }

  signOut(): void {
    this.provider.signOut();
    this.tokens = null;
    this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.set({ step: "signed-out" }, null);
  }

  /** New tokens now; on failure keep the old ones while they last and try again soon. */
  async refresh(): Promise<void> {
    const tokens = this.tokens;
    if (!tokens) return;
    try {
      this.accept(await this.provider.refresh(tokens));
    } catch (error) {
      if (tokens.expiresAt * 1000 <= this.clock.now()) {
        this.tokens = null;
        this.set({ step: "signed-out" }, `the session has expired: sign in again (${reason(error)})`);
        return;
      }
      this.schedule(REFRESH_RETRY_S * 1000);
    }
  }

  private expect(step: AuthStep["step"]): void {
    if (this.state.current.step !== step) {
      throw new Error(`sign-in: expected step ${step}, at ${this.state.current.step}`);
    }
  }

  private async run(action: () => Promise<void>): Promise<void> {
    this.set(this.state.current, null, true);
    try {
      await action();
      if (this.state.busy) this.set(this.state.current, null, false);
    } catch (error) {
      this.set(this.state.current, reason(error), false);
    }
  }

  private async follow(outcome: AuthOutcome): Promise<void> {
    switch (outcome.kind) {
      case "tokens":
        this.accept(outcome.tokens);
        return;
      case "new-password":
        this.set({ step: "new-password" }, null, false);
        return;
      case "totp": {
        this.set({ step: "totp" }, null, false);
        return;
      }
      case "totp-setup": {
        const secret = await this.provider.associateTotp();
        this.set({ step: "totp-setup", secret, uri: otpauthUri(secret, this.username) }, null,
                 false);
      }
    }
  }

  private accept(tokens: Tokens): void {
    this.tokens = tokens;
    this.username = tokens.username;
    this.set({ step: "signed-in", username: tokens.username, expiresAt: tokens.expiresAt },
             null, false);
    const due = (tokens.expiresAt - REFRESH_MARGIN_S) * 1000 - this.clock.now();
    this.schedule(Math.max(0, due));
  }

  private schedule(ms: number): void {
    this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = this.clock.setTimeout(() => void this.refresh(), ms);
  }

  private set(current: AuthStep, error: string | null, busy = false): void {
    this.state = { current, busy, error };
    for (const listener of this.listeners) listener(this.state);
  }
}
