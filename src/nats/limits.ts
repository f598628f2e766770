/**
 * NATS's payload limit is the server's `max_payload` (from the connection's INFO), not a
 * constant: a record over it is refused with a 413 before anything is written, instead of the
 * client failing mid-way through a multi-step write.
 */
import { AppError } from "../core/errors.ts";

/** nats-server's default, used only until the connection has told us its own. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The server's max_payload as the connection last saw it. */
export function maxPayloadOf(nc: { info?: { max_payload?: number } }): number {
  return nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}

/** Refuse `bytes` (a record about to be written) when it would not fit in one NATS message. */
export function assertFitsPayload(bytes: number, maxPayload: number, what: string): void {
  // Headers (message id, KV operation) ride in the same message: keep some room for them.
  const limit = maxPayload - 4096;
  if (bytes > limit) throw new AppError("payload_too_large", `${what} is ${bytes} bytes; the limit is ${limit} bytes (the NATS server's max_payload less room for headers)`, { bytes, limit });
}
