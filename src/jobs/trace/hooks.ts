/** Tracing as the job store uses it: a trace for each new job, the job's own spans when it ends. */
import type { Tracing } from "../../core/trace/tracer.ts";
import { parseTraceparent } from "../../core/trace/traceparent.ts";
import type { JobRecord } from "../record.ts";
import type { JobTraceHooks } from "../store.ts";
import { jobSpans, lostAttemptSpans } from "./spans.ts";

export function jobTraceHooks(tracing: Tracing): JobTraceHooks | undefined {
  if (!tracing.enabled) return undefined;
  return {
    newTrace: () => tracing.newJobTrace(),
    ended(job: JobRecord) {
      const c = parseTraceparent(job.trace?.traceparent);
      if (c?.sampled) tracing.emit(job.trace!.traceparent, jobSpans(job, c.spanId));
    },
  };
}

/** The sweeper's report of an attempt whose agent is gone: its attempt span, so what the agent sent of it has a parent. */
export function lostAttemptTracer(tracing: Tracing): ((prev: JobRecord, at: number) => void) | undefined {
  if (!tracing.enabled) return undefined;
  return (prev, at) => tracing.emit(prev.trace?.traceparent, lostAttemptSpans(prev, at));
}
