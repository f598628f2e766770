/** Job events: one per lifecycle transition, on the events stream, for followers and the latency breakdown. */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { eventSubject, EVENTS_STREAM } from "../nats/topology.ts";
import type { JobState } from "./record.ts";

export interface JobEvent {
  jobId: string;
  /** The job's organisation, copied from its record. */
  org: string;
  from: JobState | null;
  to: JobState;
  at: number;
  attempt: number;
  revision: number;
  agentId?: string;
  reason?: string;
  exitCode?: number;
}

/** Every event of one job so far; with `follow`, keeps yielding new ones until `signal` aborts. */
export async function* jobEvents(js: JetStreamClient, jobId: string, opts: { follow: boolean; signal?: AbortSignal }): AsyncGenerator<JobEvent> {
  for await (const { event } of jobEventEntries(js, jobId, opts)) yield event;
}

/**
 * The same, each with its stream sequence (what a follower resumes from): with `afterSeq`, only the
 * events after that one.
 */
export async function* jobEventEntries(
  js: JetStreamClient,
  jobId: string,
  opts: { follow: boolean; signal?: AbortSignal; afterSeq?: number },
): AsyncGenerator<{ seq: number; event: JobEvent }> {
  const from = opts.afterSeq ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: opts.afterSeq + 1 } : { deliver_policy: DeliverPolicy.All };
  const consumer = await js.consumers.get(EVENTS_STREAM, { filter_subjects: eventSubject(jobId), ...from });
  const info = await consumer.info(true);
  let remaining = info.num_pending;
  if (!opts.follow && remaining === 0) return;
  const messages = await consumer.consume();
  const stop = () => messages.stop();
  opts.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of messages) {
      yield { seq: m.seq, event: m.json<JobEvent>() };
      remaining--;
      if (!opts.follow && remaining <= 0) break;
    }
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    messages.stop();
  }
}
