/**
 * Registry tokens: what the token endpoint issues and the registry takes as `Authorization: Bearer`.
 * Short-lived HS256 JWTs (jose) signed with a key derived from NIMBUS_AUTH_SECRET for this purpose
 * only (so no other Nimbus signature verifies as one, and none of them as another), audience = the
 * service name. Each names who asked (role, org) and carries the `access` granted — the scopes of
 * the request intersected with what the caller may (./grants.ts). A token obtained with a Nimbus
 * token is bound to that token's id and version: the ledger is checked on every use, so a revocation
 * kills the registry tokens it bought too. Refresh tokens (the POST flow's `access_type=offline`) are
 * the same kind of JWT with another audience and no access, living as long as the credential behind them.
 */
import { createHmac } from "node:crypto";
import { jwtVerify, errors as joseErrors } from "jose";
import { signHs256 } from "../../auth/compact.ts";
import { AppError } from "../../core/errors.ts";
import { isOrgId, isOrgRole, ROLES, type Principal, type Role } from "../../auth/principal.ts";
import { REGISTRY_ACTIONS, isRepositoryName, type RegistryAction } from "./scope.ts";
import type { Access } from "./grants.ts";

export const REGISTRY_SERVICE = "nimbus-registry";
const REFRESH_AUDIENCE = "nimbus-registry-refresh";
const ISSUER = "nimbus-registry";

/** Who a registry or refresh token speaks for, and what keeps it alive. */
export interface Identity {
  principal: Principal;
  /** The Nimbus token it came from (ledger-checked on every use); null for a job's credential. */
  bound: { tokenId: string; version: number } | null;
  /** The job, when it came from a job's registry credential. */
  job?: { jobId: string; attempt: number };
  /** Nothing derived from it outlives this (s since epoch). */
  exp: number;
  /** No credential at all: the principal is a stand-in viewer of no organisation (public pulls only). */
  anonymous?: true;
}

/** The identity of a caller without a credential, good until `exp`. */
export function anonymousIdentity(exp: number): Identity {
  return { principal: { tokenId: "anonymous", sub: "anonymous", role: "viewer", org: null }, bound: null, exp, anonymous: true };
}

export interface RegistryToken extends Identity {
  access: Access[];
}

/** The signing key: HMAC-SHA256 of a fixed label under the auth secret. */
export function registryKey(secret: string): Uint8Array {
  return new Uint8Array(createHmac("sha256", secret).update("nimbus-registry-token-v1").digest());
}

function claimsOf(id: Identity): Record<string, unknown> {
  if (id.anonymous) return { anon: true };
  const c: Record<string, unknown> = { role: id.principal.role };
  if (id.principal.org) c.org = id.principal.org;
  if (id.principal.service) c.svc = true;
  if (id.bound) Object.assign(c, { tid: id.bound.tokenId, ver: id.bound.version });
  if (id.job) Object.assign(c, { job: id.job.jobId, att: id.job.attempt });
  return c;
}

async function sign(key: Uint8Array, audience: string, id: Identity, claims: Record<string, unknown>, exp: number, now: number): Promise<string> {
  return signHs256(key, { ...claimsOf(id), ...claims, iss: ISSUER, aud: audience, sub: id.principal.sub, iat: now, exp });
}

/** A registry token for `id` granting `access`; it expires after `ttlSeconds` or with its credential, whichever is first. */
export async function mintRegistryToken(key: Uint8Array, id: Identity, access: Access[], ttlSeconds: number, now = Math.floor(Date.now() / 1000)) {
  const exp = Math.min(now + ttlSeconds, id.exp);
  return { token: await sign(key, REGISTRY_SERVICE, id, { access }, exp, now), issuedAt: now, expiresIn: Math.max(0, exp - now) };
}

export async function mintRefreshToken(key: Uint8Array, id: Identity, now = Math.floor(Date.now() / 1000)): Promise<string> {
  return sign(key, REFRESH_AUDIENCE, id, {}, id.exp, now);
}

const invalid = (message: string, reason: string) => new AppError("unauthorized", message, { reason });

function parseAccess(v: unknown): Access[] | null {
  if (!Array.isArray(v) || v.length > 64) return null;
  const out: Access[] = [];
  for (const a of v) {
    if (!a || a.type !== "repository" || typeof a.name !== "string" || !isRepositoryName(a.name) || !Array.isArray(a.actions)) return null;
    if (!a.actions.every((x: unknown) => REGISTRY_ACTIONS.includes(x as RegistryAction))) return null;
    out.push({ type: "repository", name: a.name, actions: a.actions });
  }
  return out;
}

function identityOf(p: Record<string, unknown>): Identity | null {
  if (p.anon === true) return p.sub === "anonymous" ? anonymousIdentity(Number(p.exp)) : null;
  const role = p.role as Role;
  const org = typeof p.org === "string" ? p.org : null;
  const orgRole = ROLES.includes(role) && isOrgRole(role);
  if (!ROLES.includes(role) || (orgRole && !isOrgId(org)) || (!orgRole && org !== null) || typeof p.sub !== "string") return null;
  const bound = typeof p.tid === "string" && typeof p.ver === "number" ? { tokenId: p.tid, version: p.ver } : null;
  const job = typeof p.job === "string" && typeof p.att === "number" ? { jobId: p.job, attempt: p.att } : undefined;
  if (!bound && !job) return null;
  const principal: Principal = { tokenId: bound?.tokenId ?? `job:${job!.jobId}`, sub: p.sub, role, org };
  if (p.svc === true) principal.service = true;
  return { principal, bound, ...(job ? { job } : {}), exp: Number(p.exp) };
}

async function verify(key: Uint8Array, audience: string, token: string): Promise<Record<string, unknown>> {
  try {
    return (await jwtVerify(token, key, { issuer: ISSUER, audience, algorithms: ["HS256"], requiredClaims: ["sub", "exp", "iat"] })).payload;
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw invalid("registry token expired", "expired");
    throw invalid("invalid registry token", "invalid");
  }
}

/** Signature, issuer, audience (this service), expiry and claims; the ledger is the caller's check. */
export async function verifyRegistryToken(key: Uint8Array, token: string): Promise<RegistryToken> {
  const p = await verify(key, REGISTRY_SERVICE, token);
  const id = identityOf(p);
  const access = parseAccess(p.access);
  if (!id || !access) throw invalid("registry token names no valid caller or access", "invalid");
  return { ...id, access };
}

export async function verifyRefreshToken(key: Uint8Array, token: string): Promise<Identity> {
  const id = identityOf(await verify(key, REFRESH_AUDIENCE, token));
  if (!id) throw invalid("refresh token names no valid caller", "invalid");
  return id;
}

/** Whether a string looks like a JWT whose issuer is the registry (so it is not tried as a Nimbus token). */
export function isRegistryIssued(token: string): boolean {
  try {
    const body = token.split(".")[1];
    return !!body && JSON.parse(Buffer.from(body, "base64url").toString()).iss === ISSUER;
  } catch {
    return false;
  }
}
