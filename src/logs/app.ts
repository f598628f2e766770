/** The log service's HTTP layer: batched ingest (agents), query, search and live follow (admins). */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { isJobId } from "../core/ids.ts";
import type { Logger } from "../core/log.ts";
import { authenticate, baseApp, parseJsonBody, readBodyText, type AuthOptions } from "../http/common.ts";
import { lastEventSeq, sse, type StreamServer } from "../http/sse.ts";
import { parseLogBatch } from "../protocol/log-batch.ts";
import { followLines, IngestNotifier } from "./follow.ts";
import type { LogStore } from "./store.ts";

export interface LogAppDeps {
  store: LogStore;
  auth: AuthOptions;
  maxBodyBytes: number;
  log: Logger;
  /** Whether a job record exists (the control plane's truth): a job that has not printed yet is still followable. */
  jobExists(id: string): Promise<boolean>;
}

function intParam(name: string, raw: string | undefined, dflt: number, max: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new AppError("validation_failed", `${name}: must be a whole number from 0 to ${max}`, { field: name });
  return n;
}

function jobId(id: string): string {
  if (!isJobId(id)) throw new AppError("not_found", "no logs for that job id");
  return id;
}

async function* toEvents(lines: AsyncIterable<{ line: unknown; next: number }>) {
  for await (const { line, next } of lines) yield { id: next, data: line };
}

export function logApp(deps: LogAppDeps) {
  const notifier = new IngestNotifier();
  const { store } = deps;
  return baseApp("logs", { maxBodyBytes: deps.maxBodyBytes, log: deps.log })
    .get("/healthz", () => ({ ok: true }))
    .get("/readyz", () => ({ ok: true }))
    .post(
      "/v1/logs",
      async ({ request }) => {
        await authenticate(request, deps.auth, ["agent", "operator"]); // before a byte of the body is read
        const batch = parseLogBatch(parseJsonBody(await readBodyText(request, deps.maxBodyBytes)));
        const r = store.ingest(batch);
        notifier.notify(batch.jobId);
        return { ok: true, inserted: r.inserted };
      },
      { parse: "none" },
    )
    .group("/v1/jobs/:id", (app) =>
      app
        .onBeforeHandle(async ({ request }) => {
          await authenticate(request, deps.auth, ["operator"]);
        })
        .get("/logs", ({ params, query }) => {
          const id = jobId(params.id);
          const offset = intParam("offset", query.offset, 0, Number.MAX_SAFE_INTEGER);
          const limit = intParam("limit", query.limit, 1000, 10_000);
          const lines = store.read(id, offset, limit);
          return { jobId: id, offset, lines, ended: store.ended(id), total: store.count(id) };
        })
        .get("/logs/search", ({ params, query }) => {
          const id = jobId(params.id);
          if (!query.q) throw new AppError("validation_failed", "q: is required", { field: "q" });
          return { jobId: id, lines: store.search(id, query.q, intParam("limit", query.limit, 100, 10_000)) };
        })
        // Each line's event id is the offset after it; a reconnect's Last-Event-ID wins over ?offset.
        .get("/logs/follow", async ({ params, query, request, server }) => {
          const id = jobId(params.id);
          const offset = lastEventSeq(request) ?? intParam("offset", query.offset, 0, Number.MAX_SAFE_INTEGER);
          if (!store.known(id) && !(await deps.jobExists(id))) throw new AppError("not_found", `job ${id} not found`);
          const abort = new AbortController();
          return sse(toEvents(followLines(store, notifier, id, offset, abort.signal)), {
            request,
            server: server as StreamServer | null,
            onClose: () => abort.abort(),
          });
        }),
    );
}
