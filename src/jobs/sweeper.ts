/**
 * The lease sweeper: expires leases that were not renewed in time and re-queues their jobs
 * (attempt + 1), failing a job whose attempts are used up; re-publishes queued jobs whose queue
 * message may have been lost. Safe to run in several replicas at once: every write is a CAS.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../core/log.ts";
import { breakLeaseIf, leaseExpired, readLease, type LeaseSeen } from "./lifecycle/lease.ts";
import { retryOrFail } from "./lifecycle/retry.ts";
import { ACTIVE, type JobRecord } from "./record.ts";
import type { JobStore } from "./store.ts";

export interface SweepDeps {
  store: JobStore;
  leases: KV;
  /** Leases as last seen (a watch): a sweep reads NATS only for the ones that look expired. */
  leaseView: { entries(): Iterable<[string, LeaseSeen]>; has(key: string): boolean };
  jobs: () => Iterable<JobRecord>;
  /** Re-publish a queued job whose record has not moved for this long while its pool's queue is empty. */
  republishAfterMs: number;
  /** Messages waiting or in flight in a pool's queue. */
  poolBacklog: (pool: string) => Promise<number>;
  /** Whether a cancel was requested for the job (a job being retried is cancelled instead). */
  cancelRequested: (jobId: string) => Promise<boolean>;
  /** An active job with no lease at all is orphaned after this long. */
  orphanAfterMs: number;
  /** Give back running-job slots whose job lost its lease (src/jobs/lifecycle/slots.ts); returns how many. */
  pruneSlots?: () => Promise<number>;
  /** An attempt whose agent is gone was ended here (re-queued or failed): `prev` is its record before (tracing reports the attempt). */
  onAttemptLost?: (prev: JobRecord, at: number) => void;
  log: Logger;
  now?: () => number;
}

export interface SweepResult {
  expired: number;
  requeued: number;
  failed: number;
  cancelled: number;
  republished: number;
  slotsPruned: number;
}

async function expireLease(deps: SweepDeps, key: string, now: number, result: SweepResult): Promise<void> {
  // Deleted by the revision read: a lease renewed in between is not expired.
  const broken = await breakLeaseIf(deps.leases, key, (l) => leaseExpired(l, now));
  if (!broken) return;
  const lease = broken.value;
  result.expired++;
  deps.log.warn("lease expired", { jobId: key, agentId: lease.agentId, attempt: lease.attempt });
  const job = await deps.store.get(key);
  if (!job || !ACTIVE.has(job.value.state) || job.value.attempt !== lease.attempt) return;
  const outcome = await retryOrFail(deps.store, job, { reason: `lease expired on agent ${lease.agentId}`, cancelled: await deps.cancelRequested(key) });
  if (outcome === "stale") return;
  result[outcome]++;
  deps.onAttemptLost?.(job.value, deps.now?.() ?? Date.now());
}

export async function sweepOnce(deps: SweepDeps): Promise<SweepResult> {
  const now = deps.now?.() ?? Date.now();
  const result: SweepResult = { expired: 0, requeued: 0, failed: 0, cancelled: 0, republished: 0, slotsPruned: 0 };
  // Listing the bucket's keys would scan every tombstone of every released lease each round.
  const suspects = [...deps.leaseView.entries()].filter(([, l]) => l.created + l.ttlMs < now).map(([key]) => key);
  for (const key of suspects) await expireLease(deps, key, now, result);

  // One synchronous pass over the records (no await per job: the event loop is not held up in
  // between); NATS is asked only about what the pass found.
  const staleQueued = new Map<string, JobRecord[]>();
  const orphans: JobRecord[] = [];
  for (const job of deps.jobs()) {
    if (deps.leaseView.has(job.id)) continue;
    if (job.state === "queued" && now - job.updatedAt > deps.republishAfterMs) {
      const list = staleQueued.get(job.pool);
      if (list) list.push(job);
      else staleQueued.set(job.pool, [job]);
    }
    else if (ACTIVE.has(job.state) && now - job.updatedAt > deps.orphanAfterMs) orphans.push(job);
  }
  for (const [pool, jobs] of staleQueued) {
    if ((await deps.poolBacklog(pool)) !== 0) continue; // messages wait there: nothing was lost
    for (const job of jobs) await deps.store.enqueue(job);
    result.republished += jobs.length;
  }
  for (const job of orphans) {
    const cur = await deps.store.get(job.id);
    if (!cur || !ACTIVE.has(cur.value.state) || (await readLease(deps.leases, job.id))) continue;
    const outcome = await retryOrFail(deps.store, cur, { reason: "job had no lease", cancelled: await deps.cancelRequested(job.id) });
    if (outcome === "stale") continue;
    result[outcome]++;
    deps.onAttemptLost?.(cur.value, deps.now?.() ?? Date.now());
  }
  // After the expired leases are broken above, their slots are found free of a lease.
  if (deps.pruneSlots) result.slotsPruned = await deps.pruneSlots();
  return result;
}

/** Run `sweepOnce` every `intervalMs` until stopped. */
export function startSweeper(deps: SweepDeps, intervalMs: number): { stop: () => Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() =>
      sweepOnce(deps).then(
        (r) => {
          if (r.expired || r.requeued || r.failed || r.slotsPruned) deps.log.info("sweep", { ...r });
        },
        (e) => deps.log.warn("sweep failed", { error: e }),
      ),
    );
  }, intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
