/**
 * Job records in NATS KV. Each transition is one compare-and-set on the record's revision and
 * emits one event; a lost compare-and-set is a `StaleRevision`, never retried blindly.
 * `transition` is the primitive: only src/jobs/lifecycle/transition.ts calls it.
 */
import type { KV } from "@nats-io/kv";
import type { JetStreamClient } from "@nats-io/jetstream";
import { AppError } from "../core/errors.ts";
import { isWrongLastSequence } from "../nats/errors.ts";
import { eventSubject, queueSubject } from "../nats/topology.ts";
import { assertFitsPayload, DEFAULT_MAX_PAYLOAD } from "../nats/limits.ts";
import { assertTransition, TERMINAL, type JobRecord, type JobState, type Versioned } from "./record.ts";
import type { JobEvent } from "./events.ts";
import { orgOf } from "./org.ts";
import type { JobTrace } from "../core/trace/traceparent.ts";

/** What the store asks of tracing (src/jobs/trace/hooks.ts). */
export interface JobTraceHooks {
  newTrace(): JobTrace | undefined;
  ended(job: JobRecord): void;
}
import { traceHeaders } from "../nats/trace-headers.ts";

export class StaleRevision extends AppError {
  constructor(jobId: string) {
    super("stale_revision", `job ${jobId} changed underneath this writer`, { jobId });
    this.name = "StaleRevision";
  }
}

export const isStale = (e: unknown): e is StaleRevision => e instanceof StaleRevision;

const enc = new TextEncoder();
const encode = (x: unknown) => enc.encode(JSON.stringify(x));

export class JobStore {
  constructor(
    readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly onWarn: (msg: string, fields: Record<string, unknown>) => void = () => {},
    /** Publish an event without waiting for JetStream's ack (the record is the truth; an event is a
     * notification): saves a round trip per transition. Absent: publish and wait for the ack. */
    private readonly publishNoAck?: (subject: string, data: Uint8Array, msgId: string) => void,
    /** The NATS server's max_payload (read from the connection, which may learn a new one on reconnect). */
    private readonly maxPayload: () => number = () => DEFAULT_MAX_PAYLOAD,
    /** How a queued job reaches its pool's queue when this process may not publish there itself (an
     * agent asks the control plane: src/jobs/requeue.ts). Absent: publish into the queue stream. */
    private readonly enqueueVia?: (job: JobRecord) => Promise<void>,
    /** Tracing (src/jobs/trace/hooks.ts): a trace for every record created here, and the job's span exported by
     * the writer whose compare-and-set ended the job (one writer wins that CAS: the span is exported once). */
    private readonly trace?: JobTraceHooks,
  ) {}

  /** Refuse (413, nothing written) a record too large for one NATS message. */
  assertFits(job: JobRecord): Uint8Array {
    const data = encode(job);
    assertFitsPayload(data.length, this.maxPayload(), `job record ${job.id}`);
    return data;
  }

  async get(id: string): Promise<Versioned<JobRecord> | null> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT" || e.value.length === 0) return null;
    return { value: e.json<JobRecord>(), revision: e.revision };
  }

  /** Create the record; an existing key is a conflict (the caller decides whether that is a duplicate). */
  async create(job: JobRecord): Promise<Versioned<JobRecord>> {
    if (!job.trace) {
      const trace = this.trace?.newTrace();
      if (trace) job = { ...job, trace };
    }
    try {
      const revision = await this.kv.create(job.id, this.assertFits(job));
      if (TERMINAL.has(job.state)) this.trace?.ended(job);
      await this.emit({ jobId: job.id, org: orgOf(job), from: null, to: job.state, at: job.createdAt, attempt: job.attempt, revision, reason: job.reason });
      return { value: job, revision };
    } catch (e) {
      if (isWrongLastSequence(e)) throw new AppError("conflict", `job ${job.id} already exists`, { jobId: job.id });
      throw e;
    }
  }

  /** One declared transition, one CAS, one event. */
  async transition(
    cur: Versioned<JobRecord>,
    to: JobState,
    patch: Partial<JobRecord> = {},
    at = Date.now(),
  ): Promise<Versioned<JobRecord>> {
    assertTransition(cur.value.state, to);
    const next: JobRecord = { ...cur.value, ...patch, state: to, updatedAt: at, times: { ...cur.value.times, [to]: at } };
    let revision: number;
    try {
      revision = await this.kv.update(next.id, encode(next), cur.revision);
    } catch (e) {
      if (isWrongLastSequence(e)) throw new StaleRevision(next.id);
      throw e;
    }
    if (TERMINAL.has(to)) this.trace?.ended(next);
    await this.emit({
      jobId: next.id,
      org: orgOf(next),
      from: cur.value.state,
      to,
      at,
      attempt: next.attempt,
      revision,
      agentId: next.agentId,
      reason: patch.reason,
      exitCode: patch.exitCode,
    });
    return { value: next, revision };
  }

  /** Put the job on its pool's queue. Idempotent per attempt within the duplicate window. */
  async enqueue(job: JobRecord): Promise<void> {
    if (this.enqueueVia) return this.enqueueVia(job);
    // The job's trace context rides in the message's headers (W3C `traceparent`), as the agent reads it.
    const traced = job.trace ? { headers: traceHeaders(job.trace.traceparent) } : {};
    await this.js.publish(queueSubject(job.pool), encode({ jobId: job.id, attempt: job.attempt }), { msgID: `${job.id}:${job.attempt}`, ...traced });
  }

  private async emit(event: JobEvent): Promise<void> {
    if (this.publishNoAck) return this.publishNoAck(eventSubject(event.jobId), encode(event), `${event.jobId}:${event.revision}`);
    try {
      await this.js.publish(eventSubject(event.jobId), encode(event), { msgID: `${event.jobId}:${event.revision}` });
    } catch (e) {
      this.onWarn("job event not published", { jobId: event.jobId, to: event.to, error: e });
    }
  }
}
