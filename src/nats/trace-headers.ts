/** The W3C `traceparent` in NATS message headers: how a job's trace context crosses processes on the bus. */
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { parseTraceparent } from "../core/trace/traceparent.ts";

export const TRACEPARENT_HEADER = "traceparent";

export function traceHeaders(traceparent: string, into: MsgHdrs = headers()): MsgHdrs {
  into.set(TRACEPARENT_HEADER, traceparent);
  return into;
}

/** The message's traceparent when it is a valid one, else undefined (a malformed header is ignored). */
export function traceparentOf(h: MsgHdrs | undefined): string | undefined {
  const v = h?.get(TRACEPARENT_HEADER);
  return v && parseTraceparent(v) ? v.trim() : undefined;
}
