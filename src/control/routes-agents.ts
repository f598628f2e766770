/**
 * Agents joining and leaving the fleet: POST /api/agents/enroll (an enrollment token buys a new
 * agent's token and settings, src/auth/enroll.ts), drain and remove (operators, src/jobs/agent-admin.ts).
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { authenticate, parseJsonBody, readBodyText } from "../http/common.ts";
import { enrollAgent, parseEnrollRequest } from "../auth/enroll.ts";
import { checkAgentId } from "../nats/permissions.ts";
import type { EnrollResponse } from "../protocol/agent-enroll.ts";
import { audited, remoteOf } from "./audit.ts";
import { authorize } from "../auth/principal.ts";
import { clearAgentSignal } from "../agents/signals.ts";
import { drainAgent, removeAgentFully } from "./agent-admin.ts";
import type { ControlContext } from "./context.ts";

/** An agent id fits in far less. */
const MAX_ENROLL_BODY = 1024;

/** What an enrolled agent is told to use: the control plane's NIMBUS_ENROLL_* settings, else its own. */
export function announcedSettings(c: ControlContext["config"]): Record<string, string> {
  const out: Record<string, string> = { NIMBUS_NATS_URL: c.enrollNatsUrl || c.natsUrl, NIMBUS_LOGS_URL: c.enrollLogsUrl || c.logsUrl };
  if (c.enrollCacheUrl) out.NIMBUS_AGENT_CACHE_URL = c.enrollCacheUrl;
  const registry = c.enrollRegistryUrl || c.registryUrl;
  if (registry) out.NIMBUS_AGENT_REGISTRY_URL = registry;
  return out;
}

export function agentEnrollRoutes(ctx: ControlContext) {
  return new Elysia({ name: "agent-enroll" })
    // Enrollment tokens only; an already used, revoked or expired one is a 401 here, before the body is read.
    .derive(async ({ request }) => ({ principal: await authenticate(request, ctx.auth, ["enroll"]) }))
    .post(
      "/api/agents/enroll",
      async ({ request, principal, server, set }): Promise<EnrollResponse> => {
        // Without decentralized NATS auth an enrolled agent could not get a NATS user: refuse before spending the token.
        if (!ctx.config.natsAccountSeed) throw new AppError("unavailable", "this control plane cannot enroll agents: it mints no NATS users (NIMBUS_NATS_ACCOUNT_SEED is not set; `nimbus up --nats-auth jwt` sets it)");
        const { agentId } = parseEnrollRequest(parseJsonBody(await readBodyText(request, MAX_ENROLL_BODY)), checkAgentId);
        const live = await ctx.topology.agents.get(agentId);
        if (live && live.operation === "PUT" && live.value.length) throw new AppError("conflict", `agent ${agentId} is already connected: propose another id`, { field: "agentId" });
        const call = { principal, action: "agent.enroll" as const, org: null, target: agentId, remote: remoteOf(server, request), detail: () => ({ agentId }) };
        const minted = await audited(ctx, call, () => enrollAgent(ctx.tokens, principal, agentId));
        // A re-joined id starts afresh: no drain or removal signal left from before.
        await clearAgentSignal(ctx.topology.signals, agentId);
        set.status = 201;
        return { agentId, tokenId: minted.entry.id, settings: { NIMBUS_AGENT_ID: agentId, NIMBUS_AGENT_TOKEN: minted.token, ...announcedSettings(ctx.config) } };
      },
      { parse: "none" },
    );
}

/** An agent id from a path: the agent-id rule, else the same 404 as an unknown agent. */
function agentIdParam(raw: string): string {
  const id = decodeURIComponent(raw);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new AppError("not_found", `agent ${JSON.stringify(id.slice(0, 80))} not found`);
  return id;
}

export function agentAdminRoutes(ctx: ControlContext) {
  return new Elysia({ name: "agent-admin" })
    .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
    .post("/api/agents/:id/drain", async ({ params, principal, request, server }) => {
      authorize(principal, "agents:manage");
      const id = agentIdParam(params.id);
      const call = { principal, action: "agent.drain" as const, org: null, target: id, remote: remoteOf(server, request) };
      return { agent: await audited(ctx, call, () => drainAgent(ctx, principal, id)) };
    })
    .post("/api/agents/:id/remove", async ({ params, principal, request, server }) => {
      authorize(principal, "agents:manage");
      const id = agentIdParam(params.id);
      const call = { principal, action: "agent.remove" as const, org: null, target: id, remote: remoteOf(server, request), detail: (r: { requeued: string[]; revokedTokens: string[] }) => ({ requeued: r.requeued.length, revokedTokens: r.revokedTokens }) };
      return { removed: await audited(ctx, call, () => removeAgentFully(ctx, principal, id)) };
    });
}
