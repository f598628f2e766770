/** Job routes: a thin layer over the jobs core. */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { parseJobSpec } from "../jobs/spec.ts";
import { submitJob } from "../jobs/submit.ts";
import { cancelJob } from "../jobs/cancel.ts";
import { jobEventEntries, jobEvents } from "../jobs/events.ts";
import { publicJob, STATES, type JobState } from "../jobs/record.ts";
import { parseJsonBody, readBodyText } from "../http/common.ts";
import { lastEventSeq, sse, type StreamServer } from "../http/sse.ts";
import { authorize } from "../auth/principal.ts";
import { orgOf, submissionOrg } from "../jobs/org.ts";
import { audited, remoteOf } from "./audit.ts";
import type { ControlContext } from "./context.ts";
import { jobFor, listingOrgParam } from "./access.ts";

async function relayLogs(ctx: ControlContext, id: string, what: "logs" | "logs/search", request: Request): Promise<Response> {
  const url = `${ctx.config.logsUrl.replace(/\/$/, "")}/v1/jobs/${id}/${what}${new URL(request.url).search}`;
  const res = await fetch(url, { headers: { authorization: request.headers.get("authorization") ?? "" } }).catch((e: Error) => {
    throw new AppError("unavailable", `the log service at ${ctx.config.logsUrl} cannot be reached: ${e.message}`);
  });
  return new Response(res.body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
}

async function* eventFrames(entries: AsyncIterable<{ seq: number; event: unknown }>) {
  for await (const { seq, event } of entries) yield { id: seq, data: event };
}

/**
 * Each route authorizes (src/control/access.ts) before it reads a body, a job or a stream: another
 * org's job is a 404, an action over the caller's role a 403, and a refused call changes nothing.
 */
export function jobRoutes(ctx: ControlContext) {
  const job = (p: Parameters<typeof jobFor>[1], id: string, action: Parameters<typeof jobFor>[3]) => jobFor(ctx.store, p, id, action);
  return new Elysia({ name: "jobs" })
    .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
    .post(
      "/api/jobs",
      async ({ request, set, principal }) => {
        authorize(principal, "jobs:submit");
        // The token was checked (derive) before this reads the body, bounded while it streams.
        const raw = parseJsonBody(await readBodyText(request, ctx.config.maxBodyBytes));
        const headerKey = request.headers.get("idempotency-key");
        const spec = parseJobSpec(headerKey && raw && typeof raw === "object" && !("idempotencyKey" in raw) ? { ...raw, idempotencyKey: headerKey } : raw);
        const org = submissionOrg(principal, spec.org);
        const admit = (j: Parameters<typeof orgOf>[0]) => ctx.admission.admit(orgOf(j)).then((d) => ({ refund: () => ctx.admission.refund(d) }));
        const { job, created } = await submitJob({ ...ctx.submitDeps, admit }, spec, { sub: principal.sub, org });
        if (created) ctx.metrics.jobsSubmitted.inc();
        set.status = created ? 201 : 200;
        return { job: publicJob(job.value), created };
      },
      { parse: "none" },
    )
    .get("/api/jobs", ({ query, principal }) => {
      authorize(principal, "jobs:read");
      const org = listingOrgParam(principal, query.org);
      const state = query.state as JobState | undefined;
      if (state && !STATES.includes(state)) throw new AppError("validation_failed", `state: must be one of ${STATES.join(", ")}`, { field: "state" });
      const limit = query.limit === undefined ? 100 : Number(query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new AppError("validation_failed", "limit: must be a whole number from 1 to 10000", { field: "limit" });
      return { jobs: ctx.index.list({ state, org, limit }).map(publicJob) };
    })
    .get("/api/jobs/:id", async ({ params, principal }) => ({ job: publicJob((await job(principal, params.id, "jobs:read")).value) }))
    .post("/api/jobs/:id/cancel", async ({ params, set, principal, request, server }) => {
      const { value } = await job(principal, params.id, "jobs:cancel");
      const call = { principal, action: "job.cancel" as const, org: orgOf(value), target: value.id, remote: remoteOf(server, request), detail: (r: { job: { state: string }; pending: boolean }) => ({ state: r.job.state, pending: r.pending }) };
      const r = await audited(ctx, call, () => cancelJob(ctx.store, ctx.topology.signals, value.id, principal.sub));
      set.status = r.pending ? 202 : 200;
      return { job: publicJob(r.job), pending: r.pending };
    })
    // The job's logs, relayed from the log service (same token, which checks it again), so a browser needs one origin.
    .get("/api/jobs/:id/logs", async ({ params, request, principal }) => relayLogs(ctx, (await job(principal, params.id, "logs:read")).value.id, "logs", request))
    .get("/api/jobs/:id/logs/search", async ({ params, request, principal }) => relayLogs(ctx, (await job(principal, params.id, "logs:read")).value.id, "logs/search", request))
    // Followed, each event's id is its stream sequence; a reconnect's Last-Event-ID resumes after it.
    .get("/api/jobs/:id/events", async ({ params, query, request, server, principal }) => {
      const id = (await job(principal, params.id, "jobs:read")).value.id;
      if (query.follow === "1" || query.follow === "true") {
        const abort = new AbortController();
        const entries = jobEventEntries(ctx.topology.js, id, { follow: true, signal: abort.signal, afterSeq: lastEventSeq(request) ?? undefined });
        return sse(eventFrames(entries), { request, server: server as StreamServer | null, onClose: () => abort.abort() });
      }
      const events = [];
      for await (const e of jobEvents(ctx.topology.js, id, { follow: false })) events.push(e);
      return { events };
    });
}
