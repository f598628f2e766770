/**
 * Request/reply services over NATS, as the control plane offers them to agents (queue group: any
 * replica answers). A reply is `{ok, value}` or `{ok: false, code, message}`; the caller's side turns
 * the latter back into an AppError with its code.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";

export type Reply<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string; retryAfterMs?: number };

/** Codes that are answers, not failures worth a warning. */
const QUIET: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["conflict", "not_found", "stale_revision", "lease_lost"]);

export function serveRequests<Req, Res>(nc: NatsConnection, subject: string, queue: string, fn: (req: Req) => Promise<Res>, warn: (msg: string, f: Record<string, unknown>) => void): Subscription {
  const enc = new TextEncoder();
  return nc.subscribe(subject, {
    queue,
    callback: (err, msg: Msg) => {
      if (err) return;
      void (async () => {
        let reply: Reply<Res>;
        try {
          reply = { ok: true, value: await fn(msg.json<Req>()) };
        } catch (e) {
          const code: ErrorCode = e instanceof AppError ? e.code : "unavailable";
          reply = { ok: false, code, message: errorMessage(e), retryAfterMs: e instanceof AppError ? (e.details?.retryAfterMs as number | undefined) : undefined };
          if (!QUIET.has(code)) warn("service call failed", { subject, error: reply.message });
        }
        msg.respond(enc.encode(JSON.stringify(reply)));
      })();
    },
  });
}

/** Call a service; errors come back as AppErrors with their codes (`unavailable` when nobody answers). */
export async function callService<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 30_000, what = "service"): Promise<T> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  } catch (e) {
    throw new AppError("unavailable", `${what} (${subject}) did not answer: ${errorMessage(e)}`);
  }
  const reply = msg.json<Reply<T>>();
  if (reply.ok) return reply.value;
  throw new AppError(reply.code, reply.message, reply.retryAfterMs ? { retryAfterMs: reply.retryAfterMs } : undefined);
}
