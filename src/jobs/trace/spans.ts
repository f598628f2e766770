/**
 * A job's trace as spans, from the timestamps its record already keeps (`times`: when each state
 * was last entered; for a GitHub job also `github.createdAt`/`receivedAt`). Pure: each process turns
 * what it owns into spans (src/core/trace/tracer.ts exports them).
 *
 *   job                                  control plane, when the job ends (its span id is the job's traceparent's)
 *   ├─ webhook                           GitHub jobs: GitHub's created_at → Nimbus heard of it (webhook or poll)
 *   ├─ queue                             queued → an agent took the message, per attempt (one that never left the queue: → its end)
 *   └─ attempt                           the agent, per attempt it ran: message taken → torn down (its lease expired:
 *      │                                 the control plane's sweeper, leased → re-queued)
 *      ├─ lease                          message taken → leased (lease, record CAS)
 *      ├─ handout                        the control plane, answering the agent's ask for the job's secrets
 *      ├─ boot                           booting → the job started (direct) / the VM started (GitHub)
 *      ├─ runner.registration            GitHub: the VM started → the JIT runner is registered
 *      ├─ assignment                     GitHub: runner registered → GitHub assigned it a job (running)
 *      ├─ run                            running → the job's end (or the lease lost)
 *      └─ teardown                       stop, destroy, release
 *
 * Attributes are bounded: ids, org, pool, source, attempt, outcome, agent; never env values, secrets or tokens.
 */
import { TERMINAL, type JobRecord, type JobState } from "../record.ts";
import type { Attrs, SpanPlan } from "../../core/trace/plan.ts";
import { derivedSpanId, parseTraceparent } from "../../core/trace/traceparent.ts";

export type SpanName = "job" | "webhook" | "queue" | "attempt" | "handout" | "lease" | "boot" | "runner.registration" | "assignment" | "run" | "teardown";

export interface JobSpanPlan extends SpanPlan {
  name: SpanName;
}

const clampEnd = (start: number, end: number) => Math.max(start, end);

function jobAttrs(job: JobRecord): Attrs {
  return { "nimbus.job.id": job.id, "nimbus.org": job.org, "nimbus.pool": job.pool, "nimbus.job.source": job.source };
}

/** When the attempt's end state was entered (the record is at its end), else undefined. */
function endedAt(job: JobRecord): number | undefined {
  return TERMINAL.has(job.state) ? (job.times[job.state] ?? job.updatedAt) : undefined;
}

/** The control plane's spans, once the job has ended: the job span, the GitHub receipt, a queue wait that never reached an agent. */
export function jobSpans(job: JobRecord, rootSpanId: string): JobSpanPlan[] {
  const end = endedAt(job);
  if (end === undefined) return [];
  const base = jobAttrs(job);
  const g = job.github;
  const received = g?.receivedAt ?? job.createdAt;
  const ghCreated = g?.createdAt !== undefined && g.createdAt <= received ? g.createdAt : undefined;
  const start = Math.min(ghCreated ?? job.createdAt, job.createdAt);
  const out: JobSpanPlan[] = [{
    name: "job", parent: null, spanId: rootSpanId, start, end: clampEnd(start, end),
    attributes: { ...base, "nimbus.job.attempts": job.attempt, "nimbus.job.outcome": job.state },
  }];
  if (g) out.push({ name: "webhook", parent: "root", start: ghCreated ?? received, end: received, attributes: { ...base, "nimbus.github.via": g.via } });
  const queued = job.times.queued;
  const leased = job.times.leased;
  // The last attempt never left the queue (cancelled or timed out there): its wait ends with the job.
  if (queued !== undefined && (leased === undefined || leased < queued))
    out.push({ name: "queue", parent: "root", start: queued, end: clampEnd(queued, end), attributes: { ...base, "nimbus.job.attempt": job.attempt } });
  return out;
}

/** The attempt span's id: derived from the trace and the attempt number, so whoever reports the attempt names the same span. */
export const attemptSpanId = (traceId: string, attempt: number): string => derivedSpanId(traceId, `attempt:${attempt}`);

/** What only the agent saw of its attempt (the rest is in the record). */
export interface AttemptLocal {
  agentId: string;
  /** When the agent took the queue message. */
  takenAt: number;
  /** GitHub jobs: when the runner's VM started (boot ends, registration begins). */
  startedAt?: number;
  /** Absent while the attempt still runs: only the steps it has finished (queue, lease, boot) are returned. */
  teardownStart?: number;
  teardownEnd?: number;
  /** The attempt span's id, fixed in advance: the handout request named it as its parent. */
  attemptSpanId?: string;
  /** The run span's id, fixed in advance: the job got it in TRACEPARENT. */
  runSpanId?: string;
}

/**
 * The attempt span of an attempt whose agent is gone (its lease expired: the sweeper re-queued or failed the
 * job), from the record as it was before: the agent's own spans of it (lease, boot, sent as they ended) find their parent.
 */
export function lostAttemptSpans(prev: JobRecord, at: number): JobSpanPlan[] {
  const queued = prev.times.queued;
  const start = stampOf(prev, "leased", queued);
  if (start === undefined || !prev.trace) return [];
  const c = parseTraceparent(prev.trace.traceparent);
  if (!c) return [];
  const attributes: Attrs = { ...jobAttrs(prev), "nimbus.job.attempt": prev.attempt, "nimbus.agent.id": prev.agentId ?? "", "nimbus.job.outcome": "lost" };
  return [{ name: "attempt", parent: "root", spanId: attemptSpanId(c.traceId, prev.attempt), start, end: clampEnd(start, at), attributes }];
}

/** A stamp of this attempt (entered after it was queued), else undefined. */
function stampOf(job: JobRecord, s: JobState, queued: number | undefined): number | undefined {
  const t = job.times[s];
  return t !== undefined && (queued === undefined || t >= queued) ? t : undefined;
}

/**
 * The agent's spans for one attempt, from the record as the agent last wrote it and what it saw
 * itself, each step's span under the attempt's (`attemptSpanId`). `lost`: the lease was lost (the record belongs to
 * someone else now; the run ends at teardown, and the attempt span is the sweeper's). Without a teardown yet: only
 * the steps finished so far (queue, lease, boot).
 */
export function attemptSpans(job: JobRecord, local: AttemptLocal, lost = false): JobSpanPlan[] {
  const attrs: Attrs = { ...jobAttrs(job), "nimbus.job.attempt": job.attempt, "nimbus.agent.id": local.agentId };
  const queued = job.times.queued;
  const at = (s: JobState) => stampOf(job, s, queued);
  const leased = at("leased");
  const booting = at("booting");
  const registered = at("runner_registered");
  const running = at("running");
  const end = lost ? undefined : endedAt(job);
  const outcome = lost ? "lost" : end !== undefined ? job.state : job.state === "queued" ? "requeued" : job.state;
  const out: JobSpanPlan[] = [];
  const span = (name: SpanName, start: number | undefined, stop: number | undefined, extra: Partial<JobSpanPlan> = {}) => {
    if (start === undefined || stop === undefined) return;
    out.push({ name, parent: "attempt", ...(local.attemptSpanId ? { parentSpanId: local.attemptSpanId } : {}), start, end: clampEnd(start, stop), attributes: attrs, ...extra });
  };
  const over = local.teardownStart !== undefined && local.teardownEnd !== undefined;
  // A lost attempt's span is the sweeper's to report (lostAttemptSpans: it ended the attempt); its steps are still ours.
  if (over && !lost) out.push({ name: "attempt", parent: "root", ...(local.attemptSpanId ? { spanId: local.attemptSpanId } : {}), start: local.takenAt, end: clampEnd(local.takenAt, local.teardownEnd!), attributes: { ...attrs, "nimbus.job.outcome": outcome } });
  // The wait ends when an agent took the message; taking the lease is the `lease` span.
  if (queued !== undefined && leased !== undefined) out.push({ name: "queue", parent: "root", start: queued, end: clampEnd(queued, Math.min(local.takenAt, leased)), attributes: attrs });
  span("lease", local.takenAt, leased);
  const github = job.source === "github";
  const started = github ? local.startedAt : running;
  // No start (the driver failed): boot ends where the attempt's end began.
  span("boot", booting, started ?? registered ?? end ?? local.teardownStart);
  if (github) {
    span("runner.registration", local.startedAt, registered);
    span("assignment", registered, running);
  }
  if (!over) return out;
  span("run", running, end ?? local.teardownStart, { ...(local.runSpanId ? { spanId: local.runSpanId } : {}), attributes: { ...attrs, "nimbus.job.outcome": outcome, ...(job.exitCode !== undefined && end !== undefined ? { "nimbus.job.exit_code": job.exitCode } : {}) } });
  span("teardown", local.teardownStart, local.teardownEnd);
  return out;
}
