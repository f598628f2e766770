/**
 * The one retry-or-fail decision: an attempt that ended without a result is cancelled (a cancel was
 * asked for), failed (its failure budget or its attempts are used up) or queued again as attempt + 1
 * and enqueued. The sweeper, the agent after a restart, the GitHub reconciler's re-drive and the
 * agent's GitHub steps all decide here, each with its own inputs.
 */
import type { JobRecord, JobState, Versioned } from "../record.ts";
import type { JobStore } from "../store.ts";
import { tryTransition } from "./transition.ts";

export interface RetryInputs {
  /** Why the attempt ended. */
  reason: string;
  /** The reason recorded on a re-queue, when it differs from `reason`. */
  requeueReason?: string;
  /** A cancel was requested: the job is cancelled instead of retried. */
  cancelled?: boolean;
  /** Whether the ending counts as a failed attempt (default true); one that does not is re-queued even past maxAttempts. */
  failed?: boolean;
  /** A failure budget kept in the record (GitHub's runner failures), this failure counted. */
  budget?: { failures: number; max: number; what: string };
}

export type RetryDecision = { to: "cancelled" | "failed"; reason: string } | { to: "queued"; reason: string; attempt: number };

export function decideRetry(job: Pick<JobRecord, "attempt" | "maxAttempts">, i: RetryInputs): RetryDecision {
  if (i.cancelled) return { to: "cancelled", reason: `cancelled (${i.reason})` };
  if (i.budget && i.budget.failures > i.budget.max) return { to: "failed", reason: `${i.reason}; ${i.budget.failures} ${i.budget.what} (budget ${i.budget.max})` };
  if ((i.failed ?? true) && job.attempt >= job.maxAttempts) return { to: "failed", reason: `${i.reason}; ${job.maxAttempts} attempts used` };
  return { to: "queued", reason: i.requeueReason ?? i.reason, attempt: job.attempt + 1 };
}

/** How the decision is written: an unleased CAS by default; the lease holder passes its own (fenced) write. */
export type RetryWrite = (to: JobState, patch: Partial<JobRecord>) => Promise<Versioned<JobRecord> | "stale">;

export interface RetryApply extends RetryInputs {
  /** More of the record to change with the decision (GitHub's runner pairing and failure count). */
  patch?: Partial<JobRecord>;
  /** Stored backoff for the next attempt; present (even undefined) replaces the record's. */
  notBefore?: number;
}

export type RetryResult = "requeued" | "failed" | "cancelled" | "stale";

/** Decide and write it; "stale" when someone else moved the record first (their write stands). */
export async function retryOrFail(store: JobStore, cur: Versioned<JobRecord>, i: RetryApply, write?: RetryWrite): Promise<RetryResult> {
  const d = decideRetry(cur.value, i);
  const patch: Partial<JobRecord> =
    d.to === "queued"
      ? { ...i.patch, attempt: d.attempt, agentId: undefined, reason: d.reason, ...("notBefore" in i ? { notBefore: i.notBefore } : {}) }
      : { ...i.patch, reason: d.reason };
  const next = await (write ?? ((to, p) => tryTransition(store, cur, to, p)))(d.to, patch);
  if (next === "stale") return "stale";
  if (d.to !== "queued") return d.to;
  await store.enqueue(next.value);
  return "requeued";
}
