/**
 * Per-organisation job-creation windows in NATS KV, shared by every control-plane replica: key
 * `<org>.<window index>`, value = jobs created in that window, moved by compare-and-set. Requests
 * that arrive while a CAS is in flight are coalesced into the next one, so one hot organisation
 * costs one KV round trip per batch, not per webhook.
 */
import type { KV } from "@nats-io/kv";
import { isWrongLastSequence } from "../nats/errors.ts";

interface Pending {
  resolve: (r: RateDecision) => void;
  reject: (e: unknown) => void;
}

export interface RateDecision {
  allowed: boolean;
  count: number;
  limit: number;
  retryAfterMs: number;
}

const safeKey = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_") || "_";

export class OrgRateLimiter {
  private readonly queues = new Map<string, Pending[]>();
  private readonly busy = new Set<string>();
  private readonly cache = new Map<string, { count: number; revision: number }>();

  constructor(
    private readonly kv: KV,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take one job-creation slot for `org` in the current window. */
  take(org: string): Promise<RateDecision> {
    const window = Math.floor(this.now() / this.windowMs);
    const key = `${safeKey(org)}.${window}`;
    return new Promise((resolve, reject) => {
      const q = this.queues.get(key) ?? [];
      q.push({ resolve, reject });
      this.queues.set(key, q);
      if (!this.busy.has(key)) void this.flush(key, window);
    });
  }

  private async flush(key: string, window: number): Promise<void> {
    this.busy.add(key);
    try {
      for (;;) {
        const batch = this.queues.get(key) ?? [];
        this.queues.delete(key);
        if (batch.length === 0) return;
        try {
          const { before, granted } = await this.apply(key, batch.length);
          const retryAfterMs = (window + 1) * this.windowMs - this.now();
          batch.forEach((p, i) => p.resolve({ allowed: i < granted, count: before + Math.min(i + 1, granted), limit: this.limit, retryAfterMs }));
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
      }
    } finally {
      this.busy.delete(key);
      for (const k of this.cache.keys()) if (!k.endsWith(`.${window}`)) this.cache.delete(k);
    }
  }

  /** Add up to `n` to the window's count (never past the limit); CAS with a re-read on a lost race. */
  private async apply(key: string, n: number): Promise<{ before: number; granted: number }> {
    for (let tries = 0; tries < 50; tries++) {
      let cur = this.cache.get(key);
      if (!cur) {
        const e = await this.kv.get(key);
        cur = e && e.operation === "PUT" && e.value.length ? { count: Number(e.string()), revision: e.revision } : { count: 0, revision: 0 };
      }
      const granted = Math.max(0, Math.min(n, this.limit - cur.count));
      if (granted === 0) return { before: cur.count, granted };
      try {
        const value = new TextEncoder().encode(String(cur.count + granted));
        const revision = cur.revision ? await this.kv.update(key, value, cur.revision) : await this.kv.create(key, value);
        this.cache.set(key, { count: cur.count + granted, revision });
        return { before: cur.count, granted };
      } catch (e) {
        this.cache.delete(key);
        if (!isWrongLastSequence(e)) throw e;
      }
    }
    throw new Error(`rate-limit window ${key} is too contended`);
  }
}
