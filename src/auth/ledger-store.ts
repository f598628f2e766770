/**
 * The token ledger in NATS KV (bucket `nimbus_tokens`, one key per token id; rules in ./ledger.ts):
 * recording, revoking (a CAS on the entry's revision), listing, pruning expired entries, and the
 * watched in-memory view every token-verifying service checks on its hot path.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import { AppError } from "../core/errors.ts";
import { KvMirror } from "../nats/kv-mirror.ts";
import { isWrongLastSequence } from "../nats/errors.ts";
import { isTokenId, ledgerVerdict, type Actor, type LedgerEntry } from "./ledger.ts";
import type { VerifiedToken } from "./tokens.ts";
import { listKeys } from "../nats/list-keys.ts";

/** Entries this long past their expiry are pruned (the token is refused as expired before that anyway). */
export const PRUNE_GRACE_MS = 3_600_000;

function parseEntry(e: KvEntry): LedgerEntry | null {
  try {
    const v = e.json<LedgerEntry>();
    return v && isTokenId(v.id) && v.id === e.key ? v : null;
  } catch {
    return null;
  }
}

export class TokenLedger {
  constructor(readonly kv: KV) {}

  /** Record a new token; an id already recorded is a conflict (ids are never reused). */
  async record(entry: LedgerEntry): Promise<void> {
    if (!isTokenId(entry.id)) throw new AppError("validation_failed", `not a token id: ${JSON.stringify(entry.id)}`);
    try {
      await this.kv.create(entry.id, JSON.stringify(entry));
    } catch (e) {
      if (isWrongLastSequence(e)) throw new AppError("conflict", `token ${entry.id} is already in the ledger`);
      throw e;
    }
  }

  async get(id: string): Promise<LedgerEntry | null> {
    if (!isTokenId(id)) return null;
    const e = await this.kv.get(id);
    return e && e.operation === "PUT" ? parseEntry(e) : null;
  }

  /** Every entry, or one organisation's (null: all). */
  async list(org: string | null): Promise<LedgerEntry[]> {
    const out: LedgerEntry[] = [];
    for (const key of await listKeys(this.kv)) {
      const e = await this.get(key);
      if (e && (org === null || e.org === org)) out.push(e);
    }
    return out.sort((a, b) => (a.mintedAt < b.mintedAt ? 1 : a.mintedAt > b.mintedAt ? -1 : 0));
  }

  /** Mark a token revoked (once; revoking again returns the first revocation). A CAS: a concurrent write is retried on what it wrote. */
  async revoke(id: string, by: Actor, now = Date.now()): Promise<LedgerEntry> {
    for (let i = 0; i < 5; i++) {
      const found = isTokenId(id) ? await this.kv.get(id) : null;
      const entry = found && found.operation === "PUT" ? parseEntry(found) : null;
      if (!found || !entry) throw new AppError("not_found", `token ${id} not found`);
      if (entry.revoked) return entry;
      const next: LedgerEntry = { ...entry, revoked: { at: new Date(now).toISOString(), by } };
      try {
        await this.kv.update(id, JSON.stringify(next), found.revision);
        return next;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
      }
    }
    throw new AppError("conflict", `token ${id} changed while being revoked; try again`);
  }

  /**
   * Spend a one-time enrollment token on `agentId`: a CAS on its entry's revision, so of two
   * concurrent uses exactly one succeeds; the other (and any later use) is a 401 "already used".
   * A revoked, expired or unknown token, or one that is not an enrollment token, is refused unchanged.
   */
  async consume(id: string, agentId: string, now = Date.now()): Promise<LedgerEntry> {
    // A lost CAS is read again: the winner's write (used, or a revocation) is then the reason given.
    for (let i = 0; i < 3; i++) {
      const found = isTokenId(id) ? await this.kv.get(id) : null;
      const entry = found && found.operation === "PUT" ? parseEntry(found) : null;
      if (!found || !entry) throw new AppError("unauthorized", "token is not in the ledger", { reason: "unknown" });
      if (entry.role !== "enroll") throw new AppError("forbidden", `a ${entry.role} token is not an enrollment token`);
      if (entry.revoked) throw new AppError("unauthorized", "token was revoked", { reason: "revoked" });
      if (entry.used) throw new AppError("unauthorized", "enrollment token was already used", { reason: "used" });
      if (Date.parse(entry.expiresAt) <= now) throw new AppError("unauthorized", "token expired", { reason: "expired" });
      const next: LedgerEntry = { ...entry, used: { at: new Date(now).toISOString(), agentId } };
      try {
        await this.kv.update(id, JSON.stringify(next), found.revision);
        return next;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
      }
    }
    throw new AppError("unauthorized", "enrollment token was already used", { reason: "used" });
  }

  /** Delete entries that expired more than PRUNE_GRACE_MS ago; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    let n = 0;
    for (const key of await listKeys(this.kv)) {
      const e = await this.get(key);
      if (e && Date.parse(e.expiresAt) + PRUNE_GRACE_MS < now) {
        await this.kv.purge(key);
        n++;
      }
    }
    return n;
  }
}

/**
 * The ledger as every service sees it: a watched mirror, so a request costs no NATS round trip.
 * A token the mirror does not know yet (minted a moment ago on another replica) is looked up once
 * in KV; a revocation reaches the mirror within the watch's delivery (milliseconds).
 */
export class LedgerView {
  private constructor(
    private readonly ledger: TokenLedger,
    private readonly mirror: KvMirror<LedgerEntry>,
  ) {}

  static async start(kv: KV): Promise<LedgerView> {
    return new LedgerView(new TokenLedger(kv), await KvMirror.start(kv, parseEntry));
  }

  /** `AuthOptions.ledger.check`: in memory when the mirror knows the token, else one KV read. */
  check(t: VerifiedToken): void | Promise<void> {
    const known = this.mirror.get(t.tokenId);
    if (known) return ledgerVerdict(known, t);
    return this.ledger.get(t.tokenId).then((e) => ledgerVerdict(this.mirror.get(t.tokenId) ?? e, t));
  }

  get(id: string): LedgerEntry | undefined {
    return this.mirror.get(id);
  }

  stop(): void {
    this.mirror.stop();
  }
}
