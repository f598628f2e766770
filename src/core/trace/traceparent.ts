/**
 * W3C trace context (`traceparent: 00-<trace id>-<parent span id>-<flags>`), as a job carries it: made
 * once when the job is created, with the sampling decision in its flags, so every process that
 * touches the job (control plane, agent, the job itself through TRACEPARENT) joins the same trace
 * and agrees on whether it is recorded. Pure.
 */
import { createHash, randomBytes } from "node:crypto";

export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/** What a job record stores: its trace, whose span id is the job's root span. */
export interface JobTrace {
  traceparent: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export const randomTraceId = (): string => randomBytes(16).toString("hex");
export const randomSpanId = (): string => randomBytes(8).toString("hex");

/**
 * A span id every process derives alike from the trace and a name (a job's attempt span: the agent
 * running it and, when that agent is gone, the control plane that re-queues it both know its id).
 */
export function derivedSpanId(traceId: string, name: string): string {
  const id = createHash("sha256").update(`${traceId}\0${name}`).digest("hex").slice(0, 16);
  return id === "0".repeat(16) ? "0000000000000001" : id;
}

export function formatTraceparent(c: TraceContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.sampled ? "01" : "00"}`;
}

/** A valid version-00 traceparent, or null (anything else: wrong shape, all-zero ids, upper case). */
export function parseTraceparent(s: unknown): TraceContext | null {
  if (typeof s !== "string") return null;
  const m = TRACEPARENT.exec(s.trim());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return null;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 };
}

/** A new job's trace: sampled with probability `ratio` (0: never, 1: always), decided here, once. */
export function newJobTrace(ratio: number, random: () => number = Math.random): JobTrace {
  return { traceparent: formatTraceparent({ traceId: randomTraceId(), spanId: randomSpanId(), sampled: ratio >= 1 || random() < ratio }) };
}

/** The same trace with another span as the parent (what a child process is handed). */
export function childTraceparent(parent: TraceContext, spanId: string): string {
  return formatTraceparent({ ...parent, spanId });
}
