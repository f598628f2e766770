/**
 * GitHub App authentication: the app JWT (RS256, `iat` 60 s in the past to absorb clock skew,
 * `exp` 9 minutes ahead, under GitHub's 10-minute cap) and installation tokens, cached until five
 * minutes before they expire. Minted tokens are also kept in the `nimbus_gh_tokens` ledger so
 * control-plane replicas share them instead of each minting their own.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import type { KV } from "@nats-io/kv";
import { registerSecret } from "../core/log.ts";

export interface InstallationToken {
  token: string;
  expiresAt: number;
}

export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

export class AppAuth {
  private readonly key: KeyObject;
  private jwt: { value: string; exp: number } | null = null;
  private readonly tokens = new Map<number, InstallationToken>();
  private readonly minting = new Map<number, Promise<InstallationToken>>();

  constructor(
    private readonly appId: string,
    privateKeyPem: string,
    private readonly ledger: KV | undefined,
    private readonly mint: (installationId: number, jwt: string) => Promise<InstallationToken>,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createPrivateKey(privateKeyPem);
  }

  /** The app JWT, reused while it has more than a minute left. */
  async appJwt(): Promise<string> {
    const nowS = Math.floor(this.now() / 1000);
    if (this.jwt && this.jwt.exp - nowS > 60) return this.jwt.value;
    const exp = nowS + 540;
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuedAt(nowS - 60)
      .setExpirationTime(exp)
      .setIssuer(this.appId)
      .sign(this.key);
    this.jwt = { value, exp };
    return value;
  }

  private fresh(t: InstallationToken | undefined | null): t is InstallationToken {
    return !!t && t.expiresAt - this.now() > TOKEN_REFRESH_MARGIN_MS;
  }

  /** A token for the installation: memory, then the shared ledger, then GitHub. One mint at a time per installation. */
  async installationToken(installationId: number): Promise<string> {
    const cached = this.tokens.get(installationId);
    if (this.fresh(cached)) return cached.token;
    let p = this.minting.get(installationId);
    if (!p) {
      p = this.load(installationId).finally(() => this.minting.delete(installationId));
      this.minting.set(installationId, p);
    }
    return (await p).token;
  }

  /** Forget a token GitHub refused (revoked or expired early). */
  invalidate(installationId: number): void {
    this.tokens.delete(installationId);
    void this.ledger?.delete(String(installationId)).catch(() => {});
  }

  private async load(installationId: number): Promise<InstallationToken> {
    const e = this.ledger ? await this.ledger.get(String(installationId)).catch(() => null) : null;
    if (e && e.operation === "PUT" && e.value.length) {
      const t = e.json<InstallationToken>();
      if (this.fresh(t)) {
        registerSecret(t.token);
        this.tokens.set(installationId, t);
        return t;
      }
    }
    const t = await this.mint(installationId, await this.appJwt());
    registerSecret(t.token);
    this.tokens.set(installationId, t);
    await this.ledger?.put(String(installationId), new TextEncoder().encode(JSON.stringify(t))).catch(() => {});
    return t;
  }
}
