import { describe, expect, it } from "vitest";

import {
  type AuthOutcome, type Clock, type IdentityProvider, OperatorSession, otpauthUri,
  REFRESH_MARGIN_S, REFRESH_RETRY_S, type Tokens,
} from "../src/auth";

const T0 = 1_800_000_000; // epoch seconds

/** A clock whose time moves only when the test says, and whose timers fire then. */
class FakeClock implements Clock {
  ms = T0 * 1000;
  timers = new Map<number, { at: number; callback: () => void }>();
  private next = 1;

  now(): number {
    return this.ms;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.ms + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  async advance(seconds: number): Promise<void> {
    this.ms += seconds * 1000;
    for (const [id, timer] of [...this.timers]) {
      if (timer.at <= this.ms) {
        this.timers.delete(id);
        timer.callback();
      }
    }
    await new Promise((resolve) => globalThis.setTimeout(resolve, 0));
  }

  pending(): number[] {
    return [...this.timers.values()].map((t) => (t.at - this.ms) / 1000);
  }
}

function tokens(n: number, expiresAt: number): Tokens {
  return { username: "ops@example.com", idToken: `id-${n}`, accessToken: `access-${n}`,
           refreshToken: "refresh", expiresAt };
}

/** Cognito as the pool is set up: a temporary password, then TOTP set-up, then TOTP. */
class FakeCognito implements IdentityProvider {
  calls: string[] = [];
  password = "Temporary-Pass-1";
  mustChangePassword = true;
  totpEnrolled = false;
  secret = "JBSWY3DPEHPK3PXP";
  code = "123456";
  issued = 0;
  refreshFails = false;
  stored: Tokens | null = null;

  constructor(private readonly clock: FakeClock) {}

  private issue(): AuthOutcome {
    this.issued += 1;
    this.stored = tokens(this.issued, this.clock.now() / 1000 + 3600);
    return { kind: "tokens", tokens: this.stored };
  }

  async signIn(username: string, password: string): Promise<AuthOutcome> {
    this.calls.push(`srp:${username}`);
    if (password !== this.password) throw new Error("Incorrect username or password.");
    if (this.mustChangePassword) return { kind: "new-password" };
    return this.totpEnrolled ? { kind: "totp" } : { kind: "totp-setup" };
  }

  async completeNewPassword(password: string): Promise<AuthOutcome> {
    this.calls.push("new-password");
    if (password.length < 12) throw new Error("Password does not conform to policy");
    this.password = password;
    this.mustChangePassword = false;
    return this.totpEnrolled ? { kind: "totp" } : { kind: "totp-setup" };
  }

  async associateTotp(): Promise<string> {
    this.calls.push("associate");
    return this.secret;
  }

  async verifyTotpSetup(code: string): Promise<AuthOutcome> {
    this.calls.push("verify");
    if (code !== this.code) throw new Error("Code mismatch and fail enable Software Token MFA");
    this.totpEnrolled = true;
    return this.issue();
  }

  async answerTotp(code: string): Promise<AuthOutcome> {
    this.calls.push("totp");
    if (code !== this.code) throw new Error("Invalid code received for user");
    return this.issue();
  }

  async refresh(): Promise<Tokens> {
    this.calls.push("refresh");
    if (this.refreshFails) throw new Error("Network error");
    return (this.issue() as { tokens: Tokens }).tokens;
  }

  async restore(): Promise<Tokens | null> {
    return this.stored;
  }

  signOut(): void {
    this.calls.push("sign-out");
    this.stored = null;
  }
}

function setUp(): { clock: FakeClock; cognito: FakeCognito; session: OperatorSession } {
  const clock = new FakeClock();
  const cognito = new FakeCognito(clock);
  return { clock, cognito, session: new OperatorSession(cognito, clock) };
}

describe("operator sign-in", () => {
  it("walks a first sign-in through the new password and TOTP set-up", async () => {
    const { cognito, session } = setUp();
    const steps: string[] = [];
    session.onChange((s) => { if (!s.busy) steps.push(s.current.step); });

    await session.signIn(" ops@example.com ", "Temporary-Pass-1");
    expect(session.state.current).toEqual({ step: "new-password" });
    await session.setNewPassword("A-new-Pass-123!");
    const setup = session.state.current;
    expect(setup.step).toBe("totp-setup");
    if (setup.step !== "totp-setup") return;
    expect(setup.secret).toBe("JBSWY3DPEHPK3PXP");
    expect(setup.uri).toBe(
      "otpauth://totp/stresslab:ops%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=stresslab");
    expect(session.bearer()).toBeNull();
    await session.verifyTotpSetup(" 123456 ");

    expect(session.state.current).toMatchObject({ step: "signed-in",
                                                   username: "ops@example.com" });
    expect(session.bearer()).toBe("id-1");
    expect(cognito.calls).toEqual(["srp:ops@example.com", "new-password", "associate",
                                   "verify"]);
    expect(steps).toEqual(["new-password", "totp-setup", "signed-in"]);
  });

  it("asks an enrolled operator for the TOTP code and nothing else", async () => {
    const { cognito, session } = setUp();
    cognito.mustChangePassword = false;
    cognito.totpEnrolled = true;
    await session.signIn("ops@example.com", "Temporary-Pass-1");
    expect(session.state.current).toEqual({ step: "totp" });
    await session.answerTotp("123456");
    expect(session.signedIn).toBe(true);
    expect(cognito.calls).toEqual(["srp:ops@example.com", "totp"]);
  });

  it("stays on the step with Cognito's words when a password or code is wrong", async () => {
    const { cognito, session } = setUp();
    await session.signIn("ops@example.com", "wrong");
    expect(session.state).toEqual({ current: { step: "signed-out" }, busy: false,
                                    error: "Incorrect username or password." });
    await session.signIn("ops@example.com", "Temporary-Pass-1");
    await session.setNewPassword("short");
    expect(session.state.current.step).toBe("new-password");
    expect(session.state.error).toBe("Password does not conform to policy");
    await session.setNewPassword("A-new-Pass-123!");
    await session.verifyTotpSetup("000000");
    expect(session.state.current.step).toBe("totp-setup");
    expect(session.state.error).toContain("Code mismatch");
    expect(session.bearer()).toBeNull();
    expect(cognito.issued).toBe(0);
  });

  it("refuses an empty sign-in without asking Cognito", async () => {
    const { cognito, session } = setUp();
    await session.signIn("", "");
    expect(session.state.error).toBe("give the username and the password");
    expect(cognito.calls).toEqual([]);
  });

  it("refuses a step out of order", async () => {
    const { session } = setUp();
    await expect(session.answerTotp("123456")).rejects.toThrow("expected step totp");
  });
});

describe("token refresh", () => {
  async function signedIn() {
    const context = setUp();
    context.cognito.mustChangePassword = false;
    context.cognito.totpEnrolled = true;
    await context.session.signIn("ops@example.com", "Temporary-Pass-1");
    await context.session.answerTotp("123456");
    return context;
  }

  it("refreshes the tokens before the id token expires", async () => {
    const { clock, cognito, session } = await signedIn();
    expect(clock.pending()).toEqual([3600 - REFRESH_MARGIN_S]);
    await clock.advance(3600 - REFRESH_MARGIN_S - 1);
    expect(cognito.calls).not.toContain("refresh");
    expect(session.bearer()).toBe("id-1");
    await clock.advance(1);
    expect(cognito.calls.filter((c) => c === "refresh")).toHaveLength(1);
    expect(session.bearer()).toBe("id-2");
    // And the next refresh is planned from the new expiry
    expect(clock.pending()).toEqual([3600 - REFRESH_MARGIN_S]);
  });

  it("keeps the old token while it lasts when a refresh fails, and retries", async () => {
    const { clock, cognito, session } = await signedIn();
    cognito.refreshFails = true;
    await clock.advance(3600 - REFRESH_MARGIN_S);
    expect(session.bearer()).toBe("id-1");
    expect(clock.pending()).toEqual([REFRESH_RETRY_S]);
    cognito.refreshFails = false;
    await clock.advance(REFRESH_RETRY_S);
    expect(session.bearer()).toBe("id-2");
  });

  it("signs out, saying so, when the tokens expired before a refresh worked", async () => {
    const { clock, cognito, session } = await signedIn();
    cognito.refreshFails = true;
    await clock.advance(3600 - REFRESH_MARGIN_S);
    for (let i = 0; i < REFRESH_MARGIN_S / REFRESH_RETRY_S; i++) await clock.advance(REFRESH_RETRY_S);
    expect(session.bearer()).toBeNull();
    expect(session.state.current.step).toBe("signed-out");
    expect(session.state.error).toContain("the session has expired");
    expect(clock.pending()).toEqual([]);
  });

  it("restores the tab's session and plans its refresh", async () => {
    const { clock, cognito } = setUp();
    cognito.stored = tokens(7, T0 + 1000);
    const session = new OperatorSession(cognito, clock);
    await session.restore();
    expect(session.bearer()).toBe("id-7");
    expect(clock.pending()).toEqual([1000 - REFRESH_MARGIN_S]);
    session.signOut();
    expect(session.bearer()).toBeNull();
    expect(clock.pending()).toEqual([]);
  });
});

describe("otpauthUri", () => {
  it("escapes the label and issuer", () => {
    expect(otpauthUri("ABC", "a b@c", "x y")).toBe(
      "otpauth://totp/x%20y:a%20b%40c?secret=ABC&issuer=x%20y");
  });
});
