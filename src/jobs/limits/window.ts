/**
 * Per-organisation submission windows in NATS KV, shared by every control-plane replica and by
 * both intakes (direct submissions and GitHub's): key `<org token>.<window length>.<window index>`
 * (src/nats/keys.ts), value = slots handed out in that window (to any replica), moved by
 * compare-and-set. A replica reserves slots in blocks (1 % of the limit, between 1 and 256) and
 * hands them out from memory, so a busy organisation costs one KV round trip per block, not per
 * submission; requests that arrive while a reservation is in flight join the next one. Slots a
 * replica reserved but did not use by the window's end are forfeited, so the limit is enforced
 * conservatively: with R replicas, an organisation gets between `limit − R × (block − 1)` and
 * `limit` submissions per window, never more. The limit and the window length are given per call
 * (an org's limits can change; a changed window length starts a fresh count).
 */
import type { KV } from "@nats-io/kv";
import { AppError } from "../../core/errors.ts";
import { boundedText } from "../../core/log.ts";
import { isWrongLastSequence } from "../../nats/errors.ts";
import { keyOf } from "../../nats/keys.ts";

interface Pending {
  limit: number;
  resolve: (r: RateDecision) => void;
  reject: (e: unknown) => void;
}

export interface RateDecision {
  allowed: boolean;
  /** Slots taken in the window (all replicas), as far as this replica knows. */
  count: number;
  limit: number;
  retryAfterMs: number;
  /** The window's key (for `refund`). */
  key: string;
}

export interface WindowLimit {
  submissions: number;
  windowMs: number;
}

/** The window key of an organisation: the name is bounded (hashed when long or odd), never used as is. */
const windowKey = (org: string, windowMs: number, window: number) => keyOf(org, windowMs, window);

export class SubmissionWindows {
  private readonly queues = new Map<string, Pending[]>();
  private readonly busy = new Set<string>();
  /** Per window key: the count in KV after our last reservation, its revision, how many reserved slots are still unused here, and when the window ends. */
  private readonly held = new Map<string, { count: number; revision: number; left: number; endsAt: number }>();

  constructor(
    private readonly kv: KV,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take one submission slot for `org` in its current window. */
  take(org: string, lim: WindowLimit): Promise<RateDecision> {
    const window = Math.floor(this.now() / lim.windowMs);
    const key = windowKey(org, lim.windowMs, window);
    const endsAt = (window + 1) * lim.windowMs;
    const h = this.held.get(key);
    if (h && h.left > 0 && !this.busy.has(key)) {
      h.left--;
      return Promise.resolve(this.decision(true, h.count - h.left, lim.submissions, key, endsAt));
    }
    return new Promise((resolve, reject) => {
      const q = this.queues.get(key) ?? [];
      q.push({ limit: lim.submissions, resolve, reject });
      this.queues.set(key, q);
      if (!this.busy.has(key)) void this.flush(key, endsAt);
    });
  }

  /** Take a slot or throw `rate_limited` (429, its details carry `retryAfterMs` for the Retry-After header). */
  async admit(org: string, lim: WindowLimit): Promise<RateDecision> {
    const d = await this.take(org, lim);
    if (!d.allowed) {
      const secs = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      throw new AppError("rate_limited", `organisation ${boundedText(org)} submitted ${d.limit} jobs this window; try again in ${secs}s`, {
        org: boundedText(org),
        limit: d.limit,
        retryAfterMs: d.retryAfterMs,
      });
    }
    return d;
  }

  /** Give back a slot that created nothing (the job existed): it stays reserved here for the next job of that window. */
  refund(d: RateDecision): void {
    const h = d.allowed ? this.held.get(d.key) : undefined;
    if (h) h.left++;
  }

  private decision(allowed: boolean, count: number, limit: number, key: string, endsAt: number): RateDecision {
    return { allowed, count, limit, retryAfterMs: Math.max(0, endsAt - this.now()), key };
  }

  private async flush(key: string, endsAt: number): Promise<void> {
    this.busy.add(key);
    const now = this.now();
    for (const [k, h] of this.held) if (h.endsAt <= now) this.held.delete(k); // ended windows: their slots are forfeited
    try {
      for (;;) {
        const batch = this.queues.get(key) ?? [];
        this.queues.delete(key);
        if (batch.length === 0) return;
        const limit = batch[batch.length - 1]!.limit; // the newest word on the org's limit
        try {
          const h = this.held.get(key);
          const fromHeld = Math.min(h?.left ?? 0, batch.length);
          if (h) h.left -= fromHeld;
          const need = batch.length - fromHeld;
          const granted = need > 0 ? await this.reserve(key, need, limit, endsAt) : 0;
          const after = this.held.get(key);
          batch.forEach((p, i) => p.resolve(this.decision(i < fromHeld + granted, (after?.count ?? 0) - (after?.left ?? 0), limit, key, endsAt)));
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
      }
    } finally {
      this.busy.delete(key);
    }
  }

  /** Reserve `need` slots (and up to a block more, kept here), never past the limit; CAS with a re-read on a lost race. Returns how many of `need` were granted. */
  private async reserve(key: string, need: number, limit: number, endsAt: number): Promise<number> {
    const block = Math.max(1, Math.min(256, Math.floor(limit / 100)));
    for (let tries = 0; tries < 50; tries++) {
      let cur = this.held.get(key);
      if (!cur) {
        const e = await this.kv.get(key);
        cur = e && e.operation === "PUT" && e.value.length ? { count: Number(e.string()), revision: e.revision, left: 0, endsAt } : { count: 0, revision: 0, left: 0, endsAt };
      }
      const take = Math.max(0, Math.min(need + block - 1, limit - cur.count));
      if (take === 0) return 0;
      try {
        const value = new TextEncoder().encode(String(cur.count + take));
        const revision = cur.revision ? await this.kv.update(key, value, cur.revision) : await this.kv.create(key, value);
        const granted = Math.min(need, take);
        this.held.set(key, { count: cur.count + take, revision, left: cur.left + take - granted, endsAt });
        return granted;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
        // Another replica moved the window: re-read it (our unused slots stay ours).
        const left = this.held.get(key)?.left ?? 0;
        this.held.delete(key);
        const fresh = await this.kv.get(key);
        if (fresh && fresh.operation === "PUT" && fresh.value.length) this.held.set(key, { count: Number(fresh.string()), revision: fresh.revision, left, endsAt });
      }
    }
    throw new Error(`submission window ${key} is too contended`);
  }
}

/** One intake's view of the windows: each org's slot taken against that org's limit as in force. */
export interface Admission {
  take(org: string): Promise<RateDecision>;
  /** `take`, or `rate_limited` thrown. */
  admit(org: string): Promise<RateDecision>;
  refund(d: RateDecision): void;
}

export function admission(windows: SubmissionWindows, limitsFor: (org: string) => WindowLimit): Admission {
  return {
    take: (org) => windows.take(org, limitsFor(org)),
    admit: (org) => windows.admit(org, limitsFor(org)),
    refund: (d) => windows.refund(d),
  };
}
