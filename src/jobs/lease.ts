/**
 * Leases: one NATS KV key per job while an agent owns it. The key's revision is the fencing
 * token: every write the holder makes is a CAS against the revision it holds; losing one means
 * the lease is gone and the holder must stop touching the job.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import { AppError } from "../core/errors.ts";
import { isWrongLastSequence } from "../nats/errors.ts";
import { KvMirror } from "../nats/kv-mirror.ts";

export interface LeaseValue {
  jobId: string;
  agentId: string;
  attempt: number;
  ttlMs: number;
}

export class LeaseLost extends AppError {
  constructor(jobId: string) {
    super("conflict", `lease on job ${jobId} was lost`, { jobId, reason: "lease_lost" });
    this.name = "LeaseLost";
  }
}

export const isLeaseLost = (e: unknown): e is LeaseLost => e instanceof LeaseLost;

const encode = (v: LeaseValue) => new TextEncoder().encode(JSON.stringify(v));

/** Expiry is measured from the server's write time, so agents' clocks do not matter. */
export function leaseExpired(entry: KvEntry, now: number): boolean {
  const value = entry.json<LeaseValue>();
  return entry.created.getTime() + value.ttlMs < now;
}

/** What the sweeper needs to know of a lease to suspect it expired (it re-reads before acting). */
export interface LeaseSeen {
  created: number;
  ttlMs: number;
}

/** Every lease as last seen, kept current by a watch (one per control-plane replica). */
export function leaseMirror(kv: KV): Promise<KvMirror<LeaseSeen>> {
  return KvMirror.start(kv, (e) => {
    try {
      return { created: e.created.getTime(), ttlMs: e.json<LeaseValue>().ttlMs };
    } catch {
      return null;
    }
  });
}

export class Lease {
  private constructor(
    private readonly kv: KV,
    readonly value: LeaseValue,
    private rev: number,
  ) {}

  /** Take the lease, or return null when someone else holds it. */
  static async acquire(kv: KV, value: LeaseValue): Promise<Lease | null> {
    try {
      const rev = await kv.create(value.jobId, encode(value));
      return new Lease(kv, value, rev);
    } catch (e) {
      if (isWrongLastSequence(e)) return null;
      throw e;
    }
  }

  get revision(): number {
    return this.rev;
  }

  /** Renew: a CAS against the held revision. Throws LeaseLost when the fence moved. */
  async renew(): Promise<number> {
    try {
      this.rev = await this.kv.update(this.value.jobId, encode(this.value), this.rev);
      return this.rev;
    } catch (e) {
      if (isWrongLastSequence(e)) throw new LeaseLost(this.value.jobId);
      throw e;
    }
  }

  /** Release: delete only if we still hold it. */
  async release(): Promise<void> {
    try {
      await this.kv.delete(this.value.jobId, { previousSeq: this.rev });
    } catch (e) {
      if (isWrongLastSequence(e)) throw new LeaseLost(this.value.jobId);
      throw e;
    }
  }
}
