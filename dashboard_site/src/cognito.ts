/** The operator pool through amazon-cognito-identity-js (SRP), as an IdentityProvider. */

import {
  AuthenticationDetails,
  CognitoRefreshToken,
  CognitoUser,
  CognitoUserPool,
  type CognitoUserSession,
  type IAuthenticationCallback,
} from "amazon-cognito-identity-js";

import type { AuthOutcome, IdentityProvider, Tokens } from "./auth";

export interface PoolSettings {
  user_pool_id: string;
  user_pool_client_id: string;
  /** Only where Cognito is not at its AWS address (the emulated AWS). */
  cognito_endpoint?: string;
}

function tokensOf(session: CognitoUserSession, username: string): Tokens {
  const id = session.getIdToken();
  // The pool signs in by email; Cognito's own username is an opaque id.
  const email = id.payload.email;
  return {
    username: typeof email === "string" && email ? email : username,
    idToken: id.getJwtToken(),
    accessToken: session.getAccessToken().getJwtToken(),
    refreshToken: session.getRefreshToken().getToken(),
    expiresAt: id.getExpiration(),
  };
}

export class CognitoIdentity implements IdentityProvider {
  private readonly pool: CognitoUserPool;
  private user: CognitoUser | null = null;

  /** Tokens live in the tab's sessionStorage: gone when the tab closes. */
  constructor(settings: PoolSettings, private readonly storage: Storage = window.sessionStorage) {
    this.pool = new CognitoUserPool({
      UserPoolId: settings.user_pool_id, ClientId: settings.user_pool_client_id,
      Storage: storage,
      ...(settings.cognito_endpoint ? { endpoint: settings.cognito_endpoint } : {}),
    });
  }

  private callbacks(resolve: (outcome: AuthOutcome) => void,
                    reject: (error: unknown) => void): IAuthenticationCallback {
    const user = this.user!;
    return {
      onSuccess: (session) => resolve({ kind: "tokens",
                                        tokens: tokensOf(session, user.getUsername()) }),
      onFailure: reject,
      newPasswordRequired: () => resolve({ kind: "new-password" }),
      mfaSetup: () => resolve({ kind: "totp-setup" }),
      totpRequired: () => resolve({ kind: "totp" }),
      mfaRequired: () => reject(new Error("SMS codes are not offered: the pool uses TOTP")),
      selectMFAType: () => user.sendMFASelectionAnswer("SOFTWARE_TOKEN_MFA",
                                                       this.callbacks(resolve, reject)),
      customChallenge: () => reject(new Error("the pool asked for a custom challenge")),
    };
  }

  signIn(username: string, password: string): Promise<AuthOutcome> {
    this.user = new CognitoUser({ Username: username, Pool: this.pool, Storage: this.storage });
    this.user.setAuthenticationFlowType("USER_SRP_AUTH");
    const details = new AuthenticationDetails({ Username: username, Password: password });
    return new Promise((resolve, reject) =>
      this.user!.authenticateUser(details, this.callbacks(resolve, reject)));
  }

  completeNewPassword(password: string): Promise<AuthOutcome> {
    return new Promise((resolve, reject) =>
      this.current().completeNewPasswordChallenge(password, {},
                                                  this.callbacks(resolve, reject)));
  }

  associateTotp(): Promise<string> {
    return new Promise((resolve, reject) => this.current().associateSoftwareToken({
      associateSecretCode: resolve, onFailure: reject,
    }));
  }

  verifyTotpSetup(code: string): Promise<AuthOutcome> {
    const user = this.current();
    return new Promise((resolve, reject) => user.verifySoftwareToken(code, "stresslab admin", {
      onSuccess: (session) => resolve({ kind: "tokens",
                                        tokens: tokensOf(session, user.getUsername()) }),
      onFailure: reject,
    }));
  }

  answerTotp(code: string): Promise<AuthOutcome> {
    return new Promise((resolve, reject) => this.current().sendMFACode(code,
      this.callbacks(resolve, reject), "SOFTWARE_TOKEN_MFA"));
  }

  refresh(tokens: Tokens): Promise<Tokens> {
    const user = this.user ?? new CognitoUser({ Username: tokens.username, Pool: this.pool,
                                                 Storage: this.storage });
    this.user = user;
    return new Promise((resolve, reject) => user.refreshSession(
      new CognitoRefreshToken({ RefreshToken: tokens.refreshToken }),
      (error: unknown, session: CognitoUserSession | null) => {
        if (error || !session) reject(error ?? new Error("no session"));
        else resolve(tokensOf(session, user.getUsername()));
      }));
  }

  restore(): Promise<Tokens | null> {
    const user = this.pool.getCurrentUser();
    if (!user) return Promise.resolve(null);
    this.user = user;
    return new Promise((resolve) => user.getSession(
      (error: Error | null, session: CognitoUserSession | null) => {
        resolve(error || !session?.isValid() ? null : tokensOf(session, user.getUsername()));
      }));
  }

  signOut(): void {
    this.user?.signOut();
    this.user = null;
  }

  private current(): CognitoUser {
    if (!this.user) throw new Error("sign in first");
    return this.user;
  }
}
