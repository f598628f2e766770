/**
 * A removed agent's jobs: every lease it still holds is broken by the revision read (a CAS: a lease
 * that moved to another agent meanwhile survives) and its job goes back to the queue (or fails, out of
 * attempts) exactly as an expired lease's would, with the removal as the reason.
 */
import type { KV } from "@nats-io/kv";
import { listKeys } from "../nats/list-keys.ts";
import { breakLeaseIf } from "./lifecycle/lease.ts";
import { retryOrFail } from "./lifecycle/retry.ts";
import { ACTIVE } from "./record.ts";
import type { JobStore } from "./store.ts";

export interface RemovalResult {
  requeued: string[];
  failed: string[];
}

export async function releaseAgentLeases(deps: { store: JobStore; leases: KV; cancelRequested(jobId: string): Promise<boolean> }, agentId: string): Promise<RemovalResult> {
  const out: RemovalResult = { requeued: [], failed: [] };
  for (const key of await listKeys(deps.leases)) {
    const broken = await breakLeaseIf(deps.leases, key, (l) => l.value.agentId === agentId);
    if (!broken) continue;
    const job = await deps.store.get(key);
    if (!job || !ACTIVE.has(job.value.state) || job.value.attempt !== broken.value.attempt) continue;
    const outcome = await retryOrFail(deps.store, job, { reason: `agent ${agentId} was removed`, cancelled: await deps.cancelRequested(key) });
    if (outcome === "requeued") out.requeued.push(key);
    else if (outcome !== "stale") out.failed.push(key);
  }
  return out;
}
