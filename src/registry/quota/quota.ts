/**
 * Each organisation's registry quota (its limits' `registryBytes`, watched, so `nimbus limits set`
 * applies at once; 0: none), enforced where content is linked:
 * - `reserve(org, digest, size)` before a blob or manifest is linked: a digest the org already links
 *   costs nothing; otherwise, when the org's usage plus what other pushes have reserved plus `size`
 *   would pass the quota, eviction is asked to make room, and if it cannot the push is refused with
 *   403 DENIED naming the quota (nothing is linked). The reservation ends when the link is written.
 * - `headroom(org)`: what a body of unknown length may still bring (a monolithic upload is cut there).
 * - `linked(org)`: after a push, past the soft threshold (`softPercent` of the quota) eviction runs
 *   for the org in the background, least recently used first, down to that threshold.
 */
import type { Digest } from "../../blobs/digest.ts";
import type { Logger } from "../../core/log.ts";
import { RegistryError } from "../errors.ts";
import type { OrgUsage } from "./usage.ts";

export interface QuotaDeps {
  usage: OrgUsage;
  /** The org's quota in bytes (0: none). */
  limitOf(org: string): number;
  /** Percent of the quota past which eviction starts (1-100). */
  softPercent: number;
  /** Evict the org's least recently used evictable content until it uses at most `target` bytes; returns bytes freed. */
  makeRoom(org: string, target: number): Promise<number>;
  log: Logger;
}

/** After a background eviction that freed nothing, the next waits this long (the collector's runs still evict). */
const FRUITLESS_PAUSE_MS = 30_000;

export function mib(n: number): string {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

export class Quota {
  private readonly pending = new Map<string, number>();
  private readonly evicting = new Map<string, Promise<unknown>>();
  /** When a background eviction last freed nothing, per org: pushes over the threshold then do not rescan for a while. */
  private readonly fruitless = new Map<string, number>();

  constructor(readonly q: QuotaDeps) {}

  limitOf(org: string): number {
    return this.q.limitOf(org);
  }

  /** Whether the org already links `digest` (linking it again costs nothing). */
  holds(org: string, digest: Digest): boolean {
    return this.q.usage.has(org, digest);
  }

  used(org: string): number {
    return this.q.usage.bytes(org) + (this.pending.get(org) ?? 0);
  }

  /** Bytes the org may still add (Infinity without a quota). */
  headroom(org: string): number {
    const limit = this.limitOf(org);
    return limit > 0 ? Math.max(0, limit - this.used(org)) : Infinity;
  }

  /** Make room for `size` more bytes of `digest` in `org`, or throw DENIED; call the returned release once linked (or failed). */
  async reserve(org: string, digest: Digest, size: number): Promise<() => void> {
    if (this.q.usage.has(org, digest) || this.limitOf(org) <= 0) return () => {};
    if (size > this.limitOf(org)) throw this.exceeded(org, size); // no eviction can make room for it
    if (this.used(org) + size > this.limitOf(org)) {
      await this.evict(org, Math.max(0, this.limitOf(org) - size - (this.pending.get(org) ?? 0)));
      const limit = this.limitOf(org);
      if (limit > 0 && !this.q.usage.has(org, digest) && this.used(org) + size > limit) throw this.exceeded(org, size, limit);
    }
    this.pending.set(org, (this.pending.get(org) ?? 0) + size);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.pending.get(org) ?? size) - size;
      if (left > 0) this.pending.set(org, left);
      else this.pending.delete(org);
    };
  }

  /** The refusal; `atLeast`: the push's size is not known, only that it is more than `size`. */
  exceeded(org: string, size: number, limit = this.limitOf(org), atLeast = false): RegistryError {
    const used = this.used(org);
    const adds = `${atLeast ? "more than " : ""}${mib(size)}`;
    return new RegistryError("DENIED", 403, `registry quota of organisation ${org} exceeded: it uses ${mib(used)} of its ${mib(limit)} quota and this push adds ${adds} (nothing untagged is left to evict)`, {
      quotaBytes: limit,
      usedBytes: used,
      pushBytes: size,
    });
  }

  /** After a link: past the soft threshold, evict in the background down to it. */
  linked(org: string): void {
    const limit = this.limitOf(org);
    if (limit <= 0 || this.evicting.has(org) || Date.now() - (this.fruitless.get(org) ?? -Infinity) < FRUITLESS_PAUSE_MS) return;
    const soft = Math.floor((limit * this.q.softPercent) / 100);
    if (this.q.usage.bytes(org) <= soft) return;
    this.fruitless.delete(org);
    void this.evict(org, soft).then(
      (freed) => freed === 0 && this.fruitless.set(org, Date.now()),
      (e) => this.q.log.warn("registry eviction failed", { org, error: e }),
    );
  }

  /** Eviction for one org at a time: a second caller waits for the running one, then runs its own. */
  evict(org: string, target: number): Promise<number> {
    const before = this.evicting.get(org) ?? Promise.resolve();
    const run = before.then(() => (this.q.usage.bytes(org) > target ? this.q.makeRoom(org, target) : 0), () => 0);
    const tracked = run.catch(() => 0).finally(() => {
      if (this.evicting.get(org) === tracked) this.evicting.delete(org);
    });
    this.evicting.set(org, tracked);
    return run;
  }
}
