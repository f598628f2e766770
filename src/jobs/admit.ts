/**
 * Admitting a job that a forge announced (GitHub, Gitea, Forgejo): it must fit NATS, takes a slot of
 * its organisation's submission window (shared with direct submissions), and is created keyed by the
 * forge's job id — idempotent: an existing job is returned and re-enqueued only for a fresh delivery.
 */
import { AppError, isAppError } from "../core/errors.ts";
import { boundedText } from "../core/log.ts";
import type { Admission } from "./limits/window.ts";
import type { JobRecord } from "./record.ts";
import type { JobStore } from "./store.ts";

export interface AdmitDeps {
  store: JobStore;
  limiter: Admission;
}

/** Throws `rate_limited` (nothing written) when the organisation's window is full. */
export async function admitForgeJob(deps: AdmitDeps, record: JobRecord, fresh: Promise<boolean> = Promise.resolve(true)): Promise<{ jobId: string; created: boolean }> {
  deps.store.assertFits(record); // too large for NATS: 413 before a slot is taken or anything written
  const decision = await deps.limiter.take(record.org);
  if (!decision.allowed) {
    throw new AppError("rate_limited", `organisation ${boundedText(record.org)} submitted ${decision.limit} jobs this window; try again in ${Math.ceil(decision.retryAfterMs / 1000)}s`, {
      org: record.org,
      limit: decision.limit,
      retryAfterMs: decision.retryAfterMs,
    });
  }
  try {
    const job = await deps.store.create(record);
    if (record.state === "queued") await deps.store.enqueue(job.value);
    return { jobId: record.id, created: true };
  } catch (e) {
    deps.limiter.refund(decision); // no job was created
    if (!isAppError(e, "conflict")) throw e;
    const existing = await deps.store.get(record.id);
    if (existing?.value.state === "queued" && (await fresh)) await deps.store.enqueue(existing.value);
    return { jobId: record.id, created: false };
  }
}
