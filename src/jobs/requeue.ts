/**
 * Re-queueing through the control plane, over NATS request/reply (queue group: any replica answers).
 * An agent that re-queues a job (retry after a lost runner, its restart reconcile) has already
 * moved the record to `queued` with the next attempt by CAS; it may not publish into the queue
 * stream itself (its NATS user cannot: src/nats/permissions.ts), so it asks the control plane,
 * which publishes only what the record says: a job that is `queued` at that attempt. Asking twice
 * is harmless (the queue message id is `<jobId>:<attempt>`). This file is the protocol both sides
 * share; the service is src/control/requeue.ts.
 */
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";
import type { JobRecord } from "./record.ts";
import type { JobStore } from "./store.ts";

export const REQUEUE_SUBJECT = "nimbus.jobs.requeue";
export const REQUEUE_QUEUE = "nimbus-requeue";

export interface RequeueRequest {
  jobId: string;
  attempt: number;
}

export type RequeueReply = { ok: true } | { ok: false; code: ErrorCode; message: string };

/** The asking side: resolves once the control plane has published the queue message. */
export async function requestRequeue(nc: NatsConnection, job: Pick<JobRecord, "id" | "attempt">, timeoutMs = 10_000): Promise<void> {
  const body: RequeueRequest = { jobId: job.id, attempt: job.attempt };
  let msg: Msg;
  try {
    msg = await nc.request(REQUEUE_SUBJECT, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  } catch (e) {
    throw new AppError("unavailable", `the control plane's requeue service did not answer: ${errorMessage(e)}`);
  }
  const reply = msg.json<RequeueReply>();
  if (!reply.ok) throw new AppError(reply.code, reply.message);
}

/** The deciding side: publish the queue message only for a record that is queued at that attempt. */
export async function requeueFor(store: JobStore, r: RequeueRequest): Promise<void> {
  if (typeof r?.jobId !== "string" || !Number.isInteger(r.attempt)) throw new AppError("bad_request", "a requeue request names a jobId and an attempt");
  const cur = await store.get(r.jobId);
  if (!cur) throw new AppError("not_found", `job ${r.jobId} not found`);
  if (cur.value.state !== "queued" || cur.value.attempt !== r.attempt)
    throw new AppError("conflict", `job ${r.jobId} is ${cur.value.state} at attempt ${cur.value.attempt}, not queued at attempt ${r.attempt}`);
  await store.enqueue(cur.value);
}
