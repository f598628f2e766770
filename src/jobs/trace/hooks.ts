/** Tracing as the job store uses it: a trace for each new job, the job's own spans when it ends. */
import type { Tracing } from "../../core/trace/tracer.ts";
import { parseTraceparent } from "../../core/trace/traceparent.ts";
import type { JobRecord } from "../record.ts";
import type { JobTraceHooks } from "../store.ts";
import { jobSpans } from "./spans.ts";

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
