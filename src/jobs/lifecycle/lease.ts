/**
 * Leases: one NATS KV key per job while an agent owns it. The key's revision is the fencing
 * token: every write the holder makes is a CAS against the revision it holds; losing one means
 * the lease is gone and the holder must stop touching the job. This file is the only code that
 * touches the leases bucket.
 */
import type { KV } from "@nats-io/kv";
import { AppError } from "../../core/errors.ts";
import { isWrongLastSequence, unlessCasLost } from "../../nats/errors.ts";
import { KvMirror } from "../../nats/kv-mirror.ts";

export interface LeaseValue {
  jobId: string;
  agentId: string;
  attempt: number;
  ttlMs: number;
}

export class LeaseLost extends AppError {
  constructor(jobId: string) {
    super("lease_lost", `lease on job ${jobId} was lost`, { jobId });
    this.name = "LeaseLost";
  }
}

export const isLeaseLost = (e: unknown): e is LeaseLost => e instanceof LeaseLost;

/** A lease as found in the bucket, with the revision that fences it. */
export interface LeaseFound {
  value: LeaseValue;
  revision: number;
  /** The server's write time (ms since epoch). */
  created: number;
}

/** The job's lease as it stands, or null when no one holds it. */
export async function readLease(kv: KV, jobId: string): Promise<LeaseFound | null> {
  const e = await kv.get(jobId);
  if (!e || e.operation !== "PUT" || e.value.length === 0) return null;
  return { value: e.json<LeaseValue>(), revision: e.revision, created: e.created.getTime() };
}

/**
 * Break the job's lease if `should` says so of the lease as read: delete it by the revision seen,
 * so a lease renewed (or taken anew) in between survives. Returns the lease that was broken, or
 * null when there was none, `should` declined, or it moved meanwhile.
 */
export async function breakLeaseIf(kv: KV, jobId: string, should: (lease: LeaseFound) => boolean = () => true): Promise<LeaseFound | null> {
  const found = await readLease(kv, jobId);
  if (!found || !should(found)) return null;
  const broken = await unlessCasLost(kv.delete(jobId, { previousSeq: found.revision }).then(() => true));
  return broken ? found : null;
}

const encode = (v: LeaseValue) => new TextEncoder().encode(JSON.stringify(v));

/** Expiry is measured from the server's write time, so agents' clocks do not matter. */
export function leaseExpired(lease: LeaseFound, now: number): boolean {
  return lease.created + lease.value.ttlMs < now;
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
  /** When this holder last proved it holds the lease (taken or renewed; ms since epoch). */
  renewedAt = Date.now();

  private constructor(
    private readonly kv: KV,
    readonly value: LeaseValue,
    private rev: number,
  ) {}

  /** Take the lease, or return null when someone else holds it. */
  static async acquire(kv: KV, value: LeaseValue): Promise<Lease | null> {
    const rev = await unlessCasLost(kv.create(value.jobId, encode(value)));
    return rev === null ? null : new Lease(kv, value, rev);
  }

  get revision(): number {
    return this.rev;
  }

  /** Renew: a CAS against the held revision. Throws LeaseLost when the fence moved. */
  async renew(): Promise<number> {
    try {
      this.rev = await this.kv.update(this.value.jobId, encode(this.value), this.rev);
      this.renewedAt = Date.now();
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
