/**
 * Who a credential speaks for. The registry takes three kinds, told apart by their audience:
 * - a Nimbus token (`nimbus token mint`), checked against the token ledger;
 * - a job's registry credential (src/auth/registry-credential.ts): a member of the job's org, for
 *   the job's lifetime;
 * - a registry refresh token this service issued (./token.ts), ledger-checked like the Nimbus token
 *   it was bought with.
 * Every failure is `unauthorized`: nothing here says which part was wrong beyond a reason code.
 */
import { AppError } from "../../core/errors.ts";
import type { AuthOptions } from "../../http/common.ts";
import { verifyToken, type VerifiedToken } from "../../auth/tokens.ts";
import { REGISTRY_CREDENTIAL_AUDIENCE, verifyRegistryCredential } from "../../auth/registry-credential.ts";
import { isRegistryIssued, verifyRefreshToken, type Identity } from "./token.ts";

export interface RegistryAuthDeps {
  /** NIMBUS_AUTH_SECRET: verifies Nimbus tokens and job credentials. */
  secret: string;
  /** The registry-token key derived from it (./token.ts `registryKey`). */
  key: Uint8Array;
  /** The token ledger's verdict (src/auth/ledger-store.ts `LedgerView`). */
  ledger?: AuthOptions["ledger"];
  /** Organisations anyone may pull from. */
  publicOrgs: ReadonlySet<string>;
  /** The pull-through mirror's access rules (./grants.ts); absent: `mirror/...` is pull-only for any valid token. */
  mirror?: { anonymous: boolean; libraryAlias: boolean };
  /** The registry's origin as clients reach it, for the challenge's realm; null: the request's own origin. */
  externalUrl: string | null;
  /** Lifetime of issued registry tokens, in seconds. */
  tokenTtlSeconds: number;
}

function audienceOf(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()).aud;
  } catch {
    return undefined;
  }
}

/** The ledger's verdict on an identity bound to a Nimbus token (revoked, superseded, unknown: 401). */
export async function checkBound(deps: Pick<RegistryAuthDeps, "ledger">, id: Identity): Promise<void> {
  if (!id.bound || !deps.ledger) return;
  const p = id.principal;
  const t: VerifiedToken = { ...p, tokenId: id.bound.tokenId, version: id.bound.version, exp: id.exp };
  await deps.ledger.check(t);
}

/** The identity behind a password (Basic auth), a refresh token, or a Nimbus bearer token. */
export async function identify(deps: RegistryAuthDeps, credential: string): Promise<Identity> {
  if (!credential || credential.length > 8192) throw new AppError("unauthorized", "missing or oversized credential", { reason: "invalid" });
  if (isRegistryIssued(credential)) {
    const id = await verifyRefreshToken(deps.key, credential);
    await checkBound(deps, id);
    return id;
  }
  if (audienceOf(credential) === REGISTRY_CREDENTIAL_AUDIENCE) {
    const c = await verifyRegistryCredential(deps.secret, credential);
    const principal = { tokenId: `job:${c.jobId}`, sub: `job:${c.jobId}`, role: "member" as const, org: c.org, service: true };
    return { principal, bound: null, job: { jobId: c.jobId, attempt: c.attempt }, exp: c.exp };
  }
  const t = await verifyToken(deps.secret, credential);
  await deps.ledger?.check(t);
  const { version, exp, ...principal } = t;
  return { principal, bound: { tokenId: t.tokenId, version }, exp };
}
