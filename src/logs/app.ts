/**
 * The log service's HTTP layer: batched ingest (agents), query, search and live follow (any
 * non-agent principal of the job's organisation, and operators).
 *
 * Ingest takes an agent token and, in LOG_CREDENTIAL_HEADER, the attempt's log credential the
 * control plane handed that agent with the lease (src/auth/log-credential.ts): a batch for any other
 * job or attempt, or from another agent, is a 403 and nothing is stored. Operators do not ingest
 * (their role has no logs:write): only the lease holder writes a job's lines.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { isJobId } from "../core/ids.ts";
import type { Logger } from "../core/log.ts";
import { authenticate, baseApp, parseJsonBody, readBodyText, type AuthOptions } from "../http/common.ts";
import { authorize, type Role } from "../auth/principal.ts";
import { LOG_CREDENTIAL_HEADER, verifyLogCredential } from "../auth/log-credential.ts";
import { lastEventSeq, sse, type StreamServer } from "../http/sse.ts";
import { parseLogBatch } from "../protocol/log-batch.ts";
import { followLines, IngestNotifier } from "./follow.ts";
import type { IngestContext, JobMeta, LogStore } from "./store.ts";
import type { LogBatch } from "../protocol/log-batch.ts";
import type { LogMetrics } from "./metrics.ts";
import { checkMetricsAccess } from "../http/metrics-access.ts";
import { ERROR_CODES } from "../core/errors.ts";
import { listingOrg, type Principal } from "../auth/principal.ts";
import { parseQuery, fieldsOf } from "./query/parse.ts";
import type { Node } from "./query/ast.ts";
import { bucketFor, decodeCursor, encodeCursor, timeBound } from "./query/bounds.ts";
import { LiveSearch, MAX_FOLLOWERS } from "./live-search.ts";

export interface LogAppDeps {
  store: LogStore;
  auth: AuthOptions;
  maxBodyBytes: number;
  log: Logger;
  /** The organisation of a job's record (the control plane's truth), null when there is none. */
  jobOrg(id: string): Promise<string | null>;
  /** A job's fields from its record (repository, workflow, job name, branch), stored with its lines. */
  jobMeta(id: string): Promise<JobMeta>;
  /** Served at /metrics (open on a loopback bind, else for metrics:read tokens: src/http/metrics-access.ts). */
  metrics?: LogMetrics;
  /** The address the service listens on (decides who may read /metrics). */
  bindHost?: string;
  /** Live searches of this replica (shared with the fan-out from the others; a new one when absent). */
  live?: LiveSearch;
  /** Told of every stored batch (tells the other replicas: live-fanout.ts). */
  announce?: (batch: LogBatch, ctx: IngestContext) => void;
}

const READERS: readonly Role[] = ["operator", "org-admin", "member", "viewer"];

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

/**
 * The job id a reader may read: its org from the stored lines, else from the job's record (so a job
 * that has not printed yet is still readable and followable). A job of another org is a 404, as is
 * one that does not exist.
 */
async function readableJob(deps: LogAppDeps, request: Request, raw: string): Promise<string> {
  const p = await authenticate(request, deps.auth, READERS);
  const id = jobId(raw);
  const org = (await deps.store.orgOf(id)) ?? (await deps.jobOrg(id));
  if (org === null) throw new AppError("not_found", `job ${id} not found`);
  authorize(p, "logs:read", { org, what: `job ${id}` });
  return id;
}

/**
 * A cross-job query's tree and the org it is scoped to: the caller's own (operators: every org, or
 * the one `?org=` names). `org:` in the query is for operators; anyone else naming another org there
 * is refused, as they would be with `?org=`.
 */
async function scopedQuery(deps: LogAppDeps, request: Request, q: string | undefined, askedOrg: string | undefined): Promise<{ p: Principal; query: Node; org: string | null }> {
  const p = await authenticate(request, deps.auth, READERS);
  authorize(p, "logs:read");
  const org = listingOrg(p, askedOrg);
  if (!q) throw new AppError("validation_failed", "q: is required (a search query: words, \"phrases\", /regex/, field:value)", { field: "q" });
  const query = parseQuery(q);
  if (p.role !== "operator" && fieldsOf(query).has("org")) {
    const own = (n: Node): boolean => n.kind !== "field" || n.field !== "org" || (n.value.kind === "exact" && n.value.value === p.org);
    const walk = (n: Node): boolean => own(n) && (n.kind === "not" ? walk(n.child) : n.kind === "and" || n.kind === "or" ? n.children.every(walk) : true);
    if (!walk(query)) throw new AppError("forbidden", `org: filters are for operators; a ${p.role} token searches its organisation ${p.org} only`);
  }
  return { p, query, org };
}

/** A search's time range from `since` / `until` (default: the last 24 hours, and a minute ahead for clocks that run fast). */
function timeRange(qs: { since?: string; until?: string }): { since: number; until: number } {
  const now = Date.now();
  const until = timeBound("until", qs.until, now, now + 60_000);
  const since = timeBound("since", qs.since, now, now - 86_400_000);
  if (since >= until) throw new AppError("validation_failed", "since: must be before until", { field: "since" });
  return { since, until };
}

async function* toEvents(lines: AsyncIterable<{ line: unknown; next: number }>) {
  for await (const { line, next } of lines) yield { id: next, data: line };
}

export function logApp(deps: LogAppDeps) {
  const notifier = new IngestNotifier();
  const { store, metrics } = deps;
  const live = deps.live ?? new LiveSearch();
  /** Token and credential before a byte of the body is read. */
  const ingest = async (request: Request) => {
    const agent = await authenticate(request, deps.auth, ["agent"]);
    const credential = await verifyLogCredential(deps.auth.secret, request.headers.get(LOG_CREDENTIAL_HEADER));
    if (credential.agentId !== agent.agentId) throw new AppError("forbidden", `this log credential was handed to agent ${credential.agentId}, not ${agent.agentId}`, { credential: "other_agent" });
    const batch = parseLogBatch(parseJsonBody(await readBodyText(request, deps.maxBodyBytes)));
    if (batch.jobId !== credential.jobId || batch.attempt !== credential.attempt)
      throw new AppError("forbidden", `this log credential covers job ${credential.jobId} attempt ${credential.attempt} only`, { credential: "other_attempt" });
    // The credential carries the job's fields (the control plane's word, signed); an older one's are read from the record.
    const ctx = { org: credential.org, agent: credential.agentId, meta: credential.meta ?? (await deps.jobMeta(batch.jobId)) };
    const r = await store.ingest(batch, ctx);
    notifier.notify(batch.jobId);
    live.publish(batch, ctx);
    deps.announce?.(batch, ctx);
    return r;
  };
  const refused = (e: unknown) => metrics?.batches.inc({ outcome: e instanceof AppError && (ERROR_CODES as readonly string[]).includes(e.code) ? e.code : "error" });
  const app = baseApp("logs", { maxBodyBytes: deps.maxBodyBytes, log: deps.log })
    .get("/healthz", () => ({ ok: true }))
    .get("/readyz", () => ({ ok: true }))
    .post(
      "/v1/logs",
      async ({ request }) => {
        try {
          const r = await ingest(request);
          metrics?.batches.inc({ outcome: "stored" });
          metrics?.linesStored.inc(r.inserted);
          return { ok: true, inserted: r.inserted };
        } catch (e) {
          refused(e);
          throw e;
        }
      },
      { parse: "none" },
    )
    // Across the jobs of an organisation: newest first, a page at a time (`next` is the cursor of the page after).
    .get("/v1/logs/search", async ({ query: qs, request }) => {
      const { query, org } = await scopedQuery(deps, request, qs.q, qs.org);
      const { since, until } = timeRange(qs);
      const limit = intParam("limit", qs.limit, 100, 1000) || 100;
      const lines = await store.search({ query, org, since, until, limit, after: decodeCursor(qs.cursor) });
      const last = lines.at(-1);
      return { lines, next: lines.length === limit && last ? encodeCursor({ ts: last.ts, jobId: last.jobId, attempt: last.attempt, n: last.n }) : null };
    })
    .get("/v1/logs/histogram", async ({ query: qs, request }) => {
      const { query, org } = await scopedQuery(deps, request, qs.q, qs.org);
      const { since, until } = timeRange(qs);
      const bucketMs = bucketFor(since, until, intParam("buckets", qs.buckets, 60, 1000) || 60);
      const from = Math.floor(since / bucketMs) * bucketMs;
      return { since: from, until, bucketMs, buckets: await store.histogram({ query, org, since: from, until, bucketMs }) };
    })
    // Matching lines of every job of the org from now on, as they are stored (server-sent events).
    .get("/v1/logs/search/follow", async ({ query: qs, request, server }) => {
      const { query, org } = await scopedQuery(deps, request, qs.q, qs.org);
      if (live.size >= MAX_FOLLOWERS) throw new AppError("rate_limited", `${MAX_FOLLOWERS} live searches are open on this log service; try again later`, { retryAfterMs: 5000 });
      const abort = new AbortController();
      let seq = 0;
      const events = (async function* () {
        for await (const e of live.follow(query, org, abort.signal)) yield { id: ++seq, data: e };
      })();
      metrics?.followers.inc();
      return sse(events, {
        request,
        server: server as StreamServer | null,
        onClose: () => {
          metrics?.followers.dec();
          abort.abort();
        },
      });
    })
    .group("/v1/jobs/:id", (app) =>
      app
        .get("/logs", async ({ params, query, request }) => {
          const id = await readableJob(deps, request, params.id);
          const offset = intParam("offset", query.offset, 0, Number.MAX_SAFE_INTEGER);
          const limit = intParam("limit", query.limit, 1000, 10_000);
          const [lines, ended, total] = await Promise.all([store.read(id, offset, limit), store.ended(id), store.count(id)]);
          return { jobId: id, offset, lines, ended, total };
        })
        .get("/logs/search", async ({ params, query, request }) => {
          const id = await readableJob(deps, request, params.id);
          if (!query.q) throw new AppError("validation_failed", "q: is required", { field: "q" });
          return { jobId: id, lines: await store.searchJob(id, query.q, intParam("limit", query.limit, 100, 10_000)) };
        })
        // Each line's event id is the offset after it; a reconnect's Last-Event-ID wins over ?offset.
        .get("/logs/follow", async ({ params, query, request, server }) => {
          const id = await readableJob(deps, request, params.id);
          const offset = lastEventSeq(request) ?? intParam("offset", query.offset, 0, Number.MAX_SAFE_INTEGER);
          const abort = new AbortController();
          metrics?.followers.inc();
          return sse(toEvents(followLines(store, notifier, id, offset, abort.signal)), {
            request,
            server: server as StreamServer | null,
            onClose: () => {
              metrics?.followers.dec();
              abort.abort();
            },
          });
        }),
    );
  if (!metrics) return app;
  return app.get("/metrics", async ({ request }) => {
    await checkMetricsAccess(request, deps.bindHost ?? "0.0.0.0", deps.auth);
    return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
  });
}
