/**
 * Nimbus tokens: HS256 JWTs (jose) naming a principal (src/auth/principal.ts): an id (`jti`), a
 * subject, a role, an organisation (for org roles), a version and an expiry. Pure signing and
 * verifying: whether a token is still valid beyond its signature (revoked, superseded) is the
 * ledger's answer, checked by the caller (src/http/common.ts `authenticate`).
 */
import { jwtVerify, errors as joseErrors } from "jose";
import { signHs256 } from "./compact.ts";
import { hmacKey } from "./keys.ts";
import { AppError } from "../core/errors.ts";
import { newTokenId } from "../core/ids.ts";
import { isOrgId, isOrgRole, ROLES, type Principal, type Role } from "./principal.ts";

const ISSUER = "nimbus";
const AUDIENCE = "nimbus";

export interface TokenRequest {
  sub: string;
  role: Role;
  /** Required for org-admin, member and viewer; absent for operator, agent and enroll. */
  org?: string | null;
  ttlSeconds: number;
  /** The token's id; a new one when absent. */
  id?: string;
  /** The ledger version this token was minted at (a re-mint supersedes older versions). */
  version?: number;
  service?: boolean;
  /** Agent tokens: the agent id they are bound to (default: the subject). */
  agentId?: string;
}

/** A verified token: its principal, its version and when it expires (s since epoch). */
export interface VerifiedToken extends Principal {
  version: number;
  exp: number;
}


/** Parse "90s", "15m", "12h", "30d" or plain seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new AppError("bad_request", `invalid duration "${text}": use e.g. 30m, 12h or 7d`);
  const n = Number(m[1]);
  const mult = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return n * mult;
}

/** Check a token request's shape: role known, org present exactly for org roles, subject sane. */
export function checkTokenRequest(r: TokenRequest): void {
  if (!r.sub || r.sub.length > 128 || /[\u0000-\u001f]/.test(r.sub)) throw new AppError("validation_failed", "token subject must be 1 to 128 printable characters", { field: "sub" });
  if (!ROLES.includes(r.role)) throw new AppError("validation_failed", `role must be one of ${ROLES.join(", ")}`, { field: "role" });
  const orgRole = isOrgRole(r.role);
  if (orgRole && !isOrgId(r.org)) throw new AppError("validation_failed", `a ${r.role} token needs an organisation id (lower-case letters, digits and dashes, up to 64)`, { field: "org" });
  if (!orgRole && r.org) throw new AppError("validation_failed", `a ${r.role} token belongs to no organisation`, { field: "org" });
  if (r.service && !orgRole) throw new AppError("validation_failed", "service accounts are org members, viewers or admins", { field: "service" });
  if (!Number.isInteger(r.ttlSeconds) || r.ttlSeconds < 1 || r.ttlSeconds > 5 * 365 * 86400) throw new AppError("validation_failed", "ttl must be from 1 second to 5 years", { field: "ttl" });
}

export async function mintToken(secret: string, r: TokenRequest): Promise<{ token: string; id: string; expiresAt: number }> {
  checkTokenRequest(r);
  const id = r.id ?? newTokenId();
  const now = Math.floor(Date.now() / 1000);
  const exp = now + r.ttlSeconds;
  const claims: Record<string, unknown> = { role: r.role, ver: r.version ?? 1 };
  if (r.org) claims.org = r.org;
  if (r.service) claims.svc = true;
  if (r.role === "agent") claims.agent = r.agentId ?? r.sub;
  const token = signHs256(secret, { ...claims, iss: ISSUER, aud: AUDIENCE, sub: r.sub, jti: id, iat: now, exp });
  return { token, id, expiresAt: exp };
}

/**
 * Tokens this process has verified, by secret and by the token's exact text: a token is presented
 * on every call (a submitter's, an agent's at every handout), and an HMAC over the same bytes with the
 * same key always gives the same answer. Only tokens that passed are kept, so the cache holds what the
 * secret signed; a hit still checks the expiry, and whether the token is still valid beyond its
 * signature (revoked, superseded) is the ledger's answer, asked by the caller every time.
 */
const VERIFIED_MAX = 4096;
const verified = new Map<string, Map<string, VerifiedToken>>();

function cachedToken(secret: string, token: string): VerifiedToken | null {
  const hit = verified.get(secret)?.get(token);
  if (!hit) return null;
  if (hit.exp <= Math.floor(Date.now() / 1000)) {
    verified.get(secret)!.delete(token);
    throw new AppError("unauthorized", "token expired");
  }
  return { ...hit };
}

function keepToken(secret: string, token: string, p: VerifiedToken): void {
  let bySecret = verified.get(secret);
  if (!bySecret) {
    if (verified.size >= 8) verified.clear(); // a process has one auth secret; tests hand out more
    verified.set(secret, (bySecret = new Map()));
  }
  if (bySecret.size >= VERIFIED_MAX) bySecret.delete(bySecret.keys().next().value!);
  bySecret.set(token, { ...p });
}

/** Verify the signature, issuer, audience, expiry and claims; never trusts an unsigned or other-algorithm token. */
export async function verifyToken(secret: string, token: string | undefined): Promise<VerifiedToken> {
  if (!token) throw new AppError("unauthorized", "missing bearer token");
  const hit = cachedToken(secret, token);
  if (hit) return hit;
  const p = await verifySigned(secret, token);
  keepToken(secret, token, p);
  return p;
}

async function verifySigned(secret: string, token: string): Promise<VerifiedToken> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await hmacKey(secret), { issuer: ISSUER, audience: AUDIENCE, algorithms: ["HS256"], requiredClaims: ["jti", "sub", "exp"] }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new AppError("unauthorized", "token expired");
    if (e instanceof joseErrors.JWTClaimValidationFailed) throw new AppError("unauthorized", "token is not a Nimbus token");
    throw new AppError("unauthorized", "invalid token");
  }
  const role = payload.role as Role;
  const org = typeof payload.org === "string" ? payload.org : null;
  const orgRole = ROLES.includes(role) && isOrgRole(role);
  if (!ROLES.includes(role) || (orgRole && !isOrgId(org)) || (!orgRole && org !== null)) throw new AppError("unauthorized", "token names no valid role and organisation");
  const p: VerifiedToken = { tokenId: String(payload.jti), sub: String(payload.sub), role, org, version: Number(payload.ver ?? 1), exp: Number(payload.exp) };
  if (payload.svc === true) p.service = true;
  if (role === "agent") p.agentId = typeof payload.agent === "string" ? payload.agent : p.sub;
  return p;
}

export function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1];
}
