/** A span to make after the fact, with its times known: what the pure span builders return and src/core/trace/tracer.ts exports. */
export type Attrs = Record<string, string | number>;

export interface SpanPlan {
  name: string;
  /** `root`: a child of the span the traceparent names; `attempt`: a child of this batch's attempt span; null: this span is the one the traceparent names. */
  parent: "root" | "attempt" | null;
  /** With `parent: "attempt"`: the attempt span's id, when that span is not in the same batch (it is sent later, or by another process). */
  parentSpanId?: string;
  /** A span id fixed in advance (a job's root span; a span whose id a child was handed before it existed). */
  spanId?: string;
  /** ms since epoch */
  start: number;
  end: number;
  attributes: Attrs;
}
