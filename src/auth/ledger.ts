/**
 * The token ledger's records and rules, pure (no I/O): what a ledger entry holds, the verdict on a
 * verified token given its entry, and who may mint what. The KV side is src/auth/ledger-store.ts.
 *
 * An entry never holds the token or anything that rebuilds it (tokens are signed with
 * NIMBUS_AUTH_SECRET, which the ledger never sees): only what the token says, who minted it, and
 * whether it was revoked.
 */
import { AppError } from "../core/errors.ts";
import { TOKEN_ID_PATTERN } from "../core/ids.ts";
import { authorize, type Principal, type Role } from "./principal.ts";
import type { TokenRequest, VerifiedToken } from "./tokens.ts";

/** Who did something to a token: a principal's subject and token id (null: the secret holder, bootstrapping). */
export interface Actor {
  sub: string;
  tokenId: string | null;
}

export interface LedgerEntry {
  id: string;
  /** The subject: a person's or service account's name, or the agent id. */
  sub: string;
  role: Role;
  org: string | null;
  service: boolean;
  /** Agent tokens only: the one agent id the token is bound to. */
  agentId: string | null;
  mintedBy: Actor;
  /** ISO times. */
  mintedAt: string;
  expiresAt: string;
  version: number;
  /** Narrower grants than the role's, if any (none are minted today: the role is the grant). */
  scopes: string[];
  revoked: { at: string; by: Actor } | null;
  /** Enrollment tokens only: when it was spent, and on which agent id (it is then refused everywhere). */
  used?: { at: string; agentId: string } | null;
}

export function isTokenId(s: unknown): s is string {
  return typeof s === "string" && TOKEN_ID_PATTERN.test(s);
}

export const actorOf = (p: Principal): Actor => ({ sub: p.sub, tokenId: p.tokenId });
export const BOOTSTRAP_ACTOR: Actor = { sub: "bootstrap", tokenId: null };

/** The entry recording a token just minted from `r`. */
export function entryFor(r: TokenRequest & { id: string }, expiresAt: number, by: Actor, now = Date.now()): LedgerEntry {
  return {
    id: r.id,
    sub: r.sub,
    role: r.role,
    org: r.org ?? null,
    service: r.service === true,
    agentId: r.role === "agent" ? (r.agentId ?? r.sub) : null,
    mintedBy: by,
    mintedAt: new Date(now).toISOString(),
    expiresAt: new Date(expiresAt * 1000).toISOString(),
    version: r.version ?? 1,
    scopes: [],
    revoked: null,
    ...(r.role === "enroll" ? { used: null } : {}),
  };
}

/**
 * The ledger's verdict on a token whose signature, expiry and claims already hold: unknown,
 * revoked or superseded is a 401; otherwise nothing.
 */
export function ledgerVerdict(entry: LedgerEntry | undefined | null, t: VerifiedToken): void {
  if (!entry) throw new AppError("unauthorized", "token is not in the ledger", { reason: "unknown" });
  if (entry.revoked) throw new AppError("unauthorized", "token was revoked", { reason: "revoked" });
  if (entry.used) throw new AppError("unauthorized", "enrollment token was already used", { reason: "used" });
  if (t.version < entry.version) throw new AppError("unauthorized", "token was superseded", { reason: "superseded" });
}

/** The roles an org-admin may mint (for its own organisation only). */
export const ORG_ADMIN_MINTS: readonly Role[] = ["org-admin", "member", "viewer"];

/**
 * Whether `minter` may mint `r`, which would expire at `expiresAt` (s since epoch):
 * - operators mint any role, for any organisation;
 * - org-admins mint org-admin, member and viewer tokens (service accounts included) for their own
 *   organisation only;
 * - nobody else mints;
 * - a minted token never outlives the token that minted it (`minterExp`).
 * Minting with the signing secret itself (bootstrap) is not a principal's act and is not checked here.
 */
export function checkMintPolicy(minter: Principal & { exp: number }, r: TokenRequest, expiresAt: number): void {
  authorize(minter, "tokens:mint");
  if (minter.role === "org-admin") {
    if (!ORG_ADMIN_MINTS.includes(r.role)) throw new AppError("forbidden", `an org-admin mints only ${ORG_ADMIN_MINTS.join(", ")} tokens`, { field: "role" });
    if (r.org !== minter.org) throw new AppError("forbidden", `an org-admin mints only for its organisation ${minter.org}`, { field: "org" });
  }
  if (expiresAt > minter.exp)
    throw new AppError("validation_failed", `a token may not outlive the token that mints it (yours expires ${new Date(minter.exp * 1000).toISOString()})`, { field: "ttl", latest: minter.exp });
}

/** The resource `authorize` checks for entry `e`: an operator sees every token, others only their org's (another org's is a 404). */
export function entryOrg(e: LedgerEntry): { org: string | null; what: string } {
  return { org: e.org, what: `token ${e.id}` };
}
