/**
 * Per-organisation job-creation windows in NATS KV, shared by every control-plane replica: key
 * `<org token>.<window index>` (src/nats/keys.ts), value = slots handed out in that window (to any replica), moved by
 * compare-and-set. A replica reserves slots in blocks (1 % of the limit, between 1 and 256) and
 * hands them out from memory, so a busy organisation costs one KV round trip per block, not per
 * webhook; requests that arrive while a reservation is in flight join the next one. Slots a
 * replica reserved but did not use by the window's end are forfeited, so the limit is enforced
 * conservatively: with R replicas, an organisation gets between `limit − R × (block − 1)` and
 * `limit` jobs per window, never more.
 */
import type { KV } from "@nats-io/kv";
import { isWrongLastSequence } from "../nats/errors.ts";
import { keyOf } from "../nats/keys.ts";

interface Pending {
  resolve: (r: RateDecision) => void;
  reject: (e: unknown) => void;
}

export interface RateDecision {
  allowed: boolean;
  /** Slots taken in the window (all replicas), as far as this replica knows. */
  count: number;
  limit: number;
  retryAfterMs: number;
  /** The window the slot was taken in (for `refund`). */
  window: number;
}

/** The window key of an organisation: the login is bounded (hashed when long or odd), never used as is. */
const windowKey = (org: string, window: number) => keyOf(org, window);

export class OrgRateLimiter {
  private readonly queues = new Map<string, Pending[]>();
  private readonly busy = new Set<string>();
  /** Per window key: the count in KV after our last reservation, its revision, and how many reserved slots are still unused here. */
  private readonly held = new Map<string, { count: number; revision: number; left: number }>();
  private readonly block: number;

  constructor(
    private readonly kv: KV,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.block = Math.max(1, Math.min(256, Math.floor(limit / 100)));
  }

  /** Take one job-creation slot for `org` in the current window. */
  take(org: string): Promise<RateDecision> {
    const window = Math.floor(this.now() / this.windowMs);
    const key = windowKey(org, window);
    const h = this.held.get(key);
    if (h && h.left > 0 && !this.busy.has(key)) {
      h.left--;
      return Promise.resolve(this.decision(true, h.count - h.left, window));
    }
    return new Promise((resolve, reject) => {
      const q = this.queues.get(key) ?? [];
      q.push({ resolve, reject });
      this.queues.set(key, q);
      if (!this.busy.has(key)) void this.flush(key, window);
    });
  }

  /** Give back a slot that created nothing (the job existed): it stays reserved here for the next job of that window. */
  refund(org: string, d: RateDecision): void {
    const h = d.allowed ? this.held.get(windowKey(org, d.window)) : undefined;
    if (h) h.left++;
  }

  private decision(allowed: boolean, count: number, window: number): RateDecision {
    return { allowed, count, limit: this.limit, retryAfterMs: Math.max(0, (window + 1) * this.windowMs - this.now()), window };
  }

  private async flush(key: string, window: number): Promise<void> {
    this.busy.add(key);
    for (const k of this.held.keys()) if (!k.endsWith(`.${window}`)) this.held.delete(k); // earlier windows: their slots are forfeited
    try {
      for (;;) {
        const batch = this.queues.get(key) ?? [];
        this.queues.delete(key);
        if (batch.length === 0) return;
        try {
          const h = this.held.get(key);
          const fromHeld = Math.min(h?.left ?? 0, batch.length);
          if (h) h.left -= fromHeld;
          const need = batch.length - fromHeld;
          const granted = need > 0 ? await this.reserve(key, need) : 0;
          const after = this.held.get(key);
          batch.forEach((p, i) => p.resolve(this.decision(i < fromHeld + granted, (after?.count ?? 0) - (after?.left ?? 0), window)));
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
      }
    } finally {
      this.busy.delete(key);
    }
  }

  /** Reserve `need` slots (and up to a block more, kept here), never past the limit; CAS with a re-read on a lost race. Returns how many of `need` were granted. */
  private async reserve(key: string, need: number): Promise<number> {
    for (let tries = 0; tries < 50; tries++) {
      let cur = this.held.get(key);
      if (!cur) {
        const e = await this.kv.get(key);
        cur = e && e.operation === "PUT" && e.value.length ? { count: Number(e.string()), revision: e.revision, left: 0 } : { count: 0, revision: 0, left: 0 };
      }
      const take = Math.max(0, Math.min(need + this.block - 1, this.limit - cur.count));
      if (take === 0) return 0;
      try {
        const value = new TextEncoder().encode(String(cur.count + take));
        const revision = cur.revision ? await this.kv.update(key, value, cur.revision) : await this.kv.create(key, value);
        const granted = Math.min(need, take);
        this.held.set(key, { count: cur.count + take, revision, left: cur.left + take - granted });
        return granted;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
        // Another replica moved the window: re-read it (our unused slots stay ours).
        const left = this.held.get(key)?.left ?? 0;
        this.held.delete(key);
        const fresh = await this.kv.get(key);
        if (fresh && fresh.operation === "PUT" && fresh.value.length) this.held.set(key, { count: Number(fresh.string()), revision: fresh.revision, left });
      }
    }
    throw new Error(`rate-limit window ${key} is too contended`);
  }
}
