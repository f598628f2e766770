/**
 * Minting and revoking recorded tokens: the one path by which a token comes into being (sign it,
 * record it in the ledger) and is revoked. The API (a principal's act, checked by the mint policy)
 * and the bootstrap (the holder of NIMBUS_AUTH_SECRET with NATS access: `nimbus up`,
 * `nimbus token mint --bootstrap`) both go through `mintRecorded`.
 */
import { AppError } from "../core/errors.ts";
import { newTokenId } from "../core/ids.ts";
import { authorize, isOrgRole, type Principal } from "./principal.ts";
import { checkMintPolicy, entryFor, entryOrg, actorOf, BOOTSTRAP_ACTOR, type Actor, type LedgerEntry } from "./ledger.ts";
import type { TokenLedger } from "./ledger-store.ts";
import { checkTokenRequest, mintToken, parseTtl, type TokenRequest } from "./tokens.ts";

/** What an audit module is told of each mint and revocation (the single call site for audit records). */
export interface MintDeps {
  secret: string;
  ledger: TokenLedger;
}

export interface Minted {
  token: string;
  entry: LedgerEntry;
}

/** Sign a token and record it; the entry is written before the token is handed out, so it is never unknown. */
export async function mintRecorded(deps: MintDeps, r: TokenRequest, by: Actor, now = Date.now()): Promise<Minted> {
  const req = { ...r, id: r.id ?? newTokenId(now) };
  const { token, expiresAt } = await mintToken(deps.secret, req);
  const entry = entryFor(req, expiresAt, by, now);
  await deps.ledger.record(entry);
  return { token, entry };
}

/** A principal mints a token: the policy in ./ledger.ts (`checkMintPolicy`) first. */
export async function mintFor(deps: MintDeps, minter: Principal & { exp: number }, asked: MintRequest, now = Date.now()): Promise<Minted> {
  const { ttlDefaulted, ...r } = asked;
  const orgRole = isOrgRole(r.role);
  // No ttl asked for: the default, but never past the minter's own expiry (which would be refused).
  const ttlSeconds = ttlDefaulted ? Math.max(1, Math.min(r.ttlSeconds, minter.exp - Math.floor(now / 1000))) : r.ttlSeconds;
  const req: TokenRequest = { ...r, ttlSeconds, org: r.org ?? (minter.role === "org-admin" && orgRole ? minter.org : undefined) };
  authorize(minter, "tokens:mint");
  if (minter.role === "org-admin" && !orgRole) throw new AppError("forbidden", `an org-admin mints only org-admin, member and viewer tokens`, { field: "role" });
  checkTokenRequest(req);
  checkMintPolicy(minter, req, Math.floor(now / 1000) + req.ttlSeconds);
  return mintRecorded(deps, req, actorOf(minter), now);
}

/** The fleet's first tokens, minted with the secret itself (no principal: `nimbus up`, `token mint --bootstrap`). */
export function bootstrapToken(deps: MintDeps, r: TokenRequest): Promise<Minted> {
  return mintRecorded(deps, r, BOOTSTRAP_ACTOR);
}

/** A principal revokes a token: another organisation's token is a 404, a missing grant a 403. */
export async function revokeFor(deps: Pick<MintDeps, "ledger">, p: Principal, id: string, now = Date.now()): Promise<LedgerEntry> {
  const found = await deps.ledger.get(id);
  if (!found) throw new AppError("not_found", `token ${id} not found`);
  authorize(p, "tokens:revoke", entryOrg(found));
  return deps.ledger.revoke(id, actorOf(p), now);
}

/** A token's life when the request names none (capped at the minter's own). */
export const DEFAULT_MINT_TTL_SECONDS = 30 * 86_400;

/** A parsed mint request; `ttlDefaulted` when it named no ttl. */
export type MintRequest = TokenRequest & { ttlDefaulted?: boolean };

/**
 * A mint request from outside (API body): `{role, org?, name, ttl?, service?}`, `ttl` as "30d"-style
 * text or seconds (default 30 days, at most the minter's remaining life). The name is the token's
 * subject (an agent token's: its agent id).
 */
export function parseMintRequest(raw: unknown): MintRequest {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new AppError("validation_failed", "expected a JSON object {role, org?, name, ttl, service?}");
  const b = raw as Record<string, unknown>;
  const field = (name: string, ok: boolean, what: string) => {
    if (!ok) throw new AppError("validation_failed", `${name}: ${what}`, { field: name });
  };
  field("role", typeof b.role === "string", "must be a role name");
  field("name", typeof b.name === "string", "must be a string");
  field("org", b.org === undefined || b.org === null || typeof b.org === "string", "must be an organisation id");
  field("service", b.service === undefined || typeof b.service === "boolean", "must be true or false");
  field("ttl", b.ttl === undefined || typeof b.ttl === "string" || typeof b.ttl === "number", 'must be a duration such as "30d" or a number of seconds');
  const ttlSeconds = b.ttl === undefined ? DEFAULT_MINT_TTL_SECONDS : typeof b.ttl === "number" ? b.ttl : parseTtl(b.ttl as string);
  const r: MintRequest = { role: b.role as TokenRequest["role"], sub: b.name as string, ttlSeconds, org: (b.org as string | null | undefined) ?? undefined };
  if (b.ttl === undefined) r.ttlDefaulted = true;
  if (b.service === true) r.service = true;
  return r;
}
