/** The control plane's requeue service (protocol and rule: src/jobs/requeue.ts). */
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { JobStore } from "../jobs/store.ts";
import { REQUEUE_QUEUE, REQUEUE_SUBJECT, requeueFor, type RequeueReply, type RequeueRequest } from "../jobs/requeue.ts";

export function startRequeueService(deps: { nc: NatsConnection; store: JobStore; log: Logger }): { stop(): void } {
  const enc = new TextEncoder();
  const sub = deps.nc.subscribe(REQUEUE_SUBJECT, {
    queue: REQUEUE_QUEUE,
    callback: (err, msg: Msg) => {
      if (err) return;
      void (async () => {
        let reply: RequeueReply;
        try {
          await requeueFor(deps.store, msg.json<RequeueRequest>());
          reply = { ok: true };
        } catch (e) {
          const code: ErrorCode = e instanceof AppError ? e.code : "unavailable";
          reply = { ok: false, code, message: errorMessage(e) };
          if (code === "unavailable") deps.log.warn("requeue failed", { error: reply.message });
        }
        msg.respond(enc.encode(JSON.stringify(reply)));
      })();
    },
  });
  return { stop: () => sub.unsubscribe() };
}
