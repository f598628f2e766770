/** Health, readiness, metrics, who is calling, organisations, agents and queue depth. */
import { Elysia } from "elysia";
import { listAgents } from "../agents/registry.ts";
import { QUEUE_STREAM, QUEUE_SUBJECT_PREFIX } from "../nats/topology.ts";
import { VERSION } from "../version.ts";
import { authorize, seesOrg, type Principal } from "../auth/principal.ts";
import { orgOf } from "../jobs/org.ts";
import { checkMetricsAccess } from "../http/metrics-access.ts";
import type { ControlContext } from "./context.ts";
import { listingOrgParam } from "./access.ts";

/**
 * Jobs waiting or in flight per pool: from each pool's consumer (agents make them), and for pools no
 * agent has pulled from yet, the messages waiting on the pool's subject.
 */
export async function queueDepth(ctx: ControlContext): Promise<{ total: number; pools: Record<string, number> }> {
  const pools: Record<string, number> = {};
  for await (const c of ctx.topology.jsm.consumers.list(QUEUE_STREAM)) {
    const pool = c.config.filter_subject?.split(".").slice(2).join(".") ?? c.name;
    pools[pool] = c.num_pending + c.num_ack_pending;
  }
  const info = await ctx.topology.jsm.streams.info(QUEUE_STREAM, { subjects_filter: `${QUEUE_SUBJECT_PREFIX}.>` });
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const pool = subject.slice(QUEUE_SUBJECT_PREFIX.length + 1);
    if (!(pool in pools)) pools[pool] = n;
  }
  return { total: Object.values(pools).reduce((a, b) => a + b, 0), pools };
}

function visible(ctx: ControlContext, p: Principal, jobId: string): boolean {
  const job = ctx.index.get(jobId);
  return !!job && seesOrg(p, orgOf(job));
}

export function systemRoutes(ctx: ControlContext) {
  return new Elysia({ name: "system" })
    .get("/healthz", () => ({ ok: true, version: VERSION }))
    .get("/readyz", ({ set }) => {
      const ready = !ctx.nc.isClosed() && ctx.nc.info !== undefined;
      set.status = ready ? 200 : 503;
      return ready ? { ok: true } : { code: "unavailable", message: "not connected to NATS" };
    })
    .get("/metrics", async ({ set, request }) => {
      await checkMetricsAccess(request, ctx.config.host, ctx.auth);
      set.headers["content-type"] = ctx.metrics.registry.contentType;
      return ctx.metrics.registry.metrics();
    })
    .get("/api/info", () => ({ version: VERSION, logsUrl: ctx.config.logsUrl, ...(ctx.config.registryUrl ? { registryUrl: ctx.config.registryUrl } : {}) }))
    .group("/api", (app) =>
      app
        .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
        .get("/whoami", ({ principal: p }) => ({ sub: p.sub, role: p.role, org: p.org, tokenId: p.tokenId }))
        // The orgs the caller may look at: an operator's are every org that has jobs (for the dashboard's selector).
        .get("/orgs", ({ principal: p }) => {
          authorize(p, "jobs:read");
          return { orgs: p.role === "operator" ? ctx.index.orgs() : [p.org] };
        })
        // The fleet is shared; which jobs an agent runs is shown only for jobs the caller may see.
        .get("/agents", async ({ principal: p }) => {
          authorize(p, "agents:read");
          const agents = await listAgents(ctx.topology.agents);
          return { agents: p.role === "operator" ? agents : agents.map((a) => ({ ...a, running: a.running.filter((id) => visible(ctx, p, id)) })) };
        })
        // An org's view (a non-operator's, or an operator's ?org=): its own jobs per pool, from the read model.
        .get("/queue", async ({ principal: p, query }) => {
          authorize(p, "jobs:read");
          const org = listingOrgParam(p, query.org);
          if (org === null) return { ...(await queueDepth(ctx)), jobs: ctx.index.countByState() };
          const pools = ctx.index.poolLoad(org);
          return { total: Object.values(pools).reduce((a, b) => a + b, 0), pools, org, jobs: ctx.index.countByState(org) };
        }),
    );
}
