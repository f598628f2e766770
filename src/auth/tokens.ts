/**
 * Admin and agent tokens: HS256 JWTs (jose). The audience separates the kinds, so an agent token
 * never passes as an admin token. Admin subjects must also be on the configured allow-list.
 */
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { AppError } from "../core/errors.ts";

export type TokenKind = "admin" | "agent";
const ISSUER = "nimbus";
const AUDIENCE: Record<TokenKind, string> = { admin: "nimbus-admin", agent: "nimbus-agent" };

export interface TokenClaims {
  kind: TokenKind;
  sub: string;
  exp?: number;
}

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Parse "90s", "15m", "12h", "30d" or plain seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new AppError("bad_request", `invalid duration "${text}": use e.g. 30m, 12h or 7d`);
  const n = Number(m[1]);
  const mult = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return n * mult;
}

export async function mintToken(secret: string, kind: TokenKind, sub: string, ttlSeconds: number): Promise<string> {
  if (!sub) throw new AppError("bad_request", "token subject must not be empty");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE[kind])
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(key(secret));
}

export async function verifyToken(
  secret: string,
  token: string | undefined,
  kind: TokenKind,
  allowedSubjects?: readonly string[],
): Promise<TokenClaims> {
  if (!token) throw new AppError("unauthorized", "missing bearer token");
  try {
    const { payload } = await jwtVerify(token, key(secret), { issuer: ISSUER, audience: AUDIENCE[kind], algorithms: ["HS256"] });
    const sub = payload.sub ?? "";
    if (allowedSubjects && !allowedSubjects.includes(sub))
      throw new AppError("unauthorized", `token subject is not on the ${kind} allow-list`);
    return { kind, sub, exp: payload.exp };
  } catch (e) {
    if (e instanceof AppError) throw e;
    if (e instanceof joseErrors.JWTExpired) throw new AppError("unauthorized", "token expired");
    if (e instanceof joseErrors.JWTClaimValidationFailed) throw new AppError("unauthorized", `token is not an ${kind} token`);
    throw new AppError("unauthorized", "invalid token");
  }
}

export function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1];
}
