/**
 * An operator drains or removes an agent. Drain: the agent's signal key says `drain` (it stops
 * pulling and finishes what runs). Remove: the signal says `removed` (it stops heartbeating), its
 * agent tokens are revoked in the ledger (so its NATS JWT renewals are refused), its registry entry is
 * deleted, and the jobs whose leases it still holds are requeued, each by a CAS on the lease.
 */
import { listAgents, removeAgent, type AgentInfo } from "../agents/registry.ts";
import { signalAgent } from "../agents/signals.ts";
import { actorOf } from "../auth/ledger.ts";
import type { Principal } from "../auth/principal.ts";
import { cancelRequested } from "../jobs/cancel.ts";
import { releaseAgentLeases, type RemovalResult } from "../jobs/agent-removal.ts";
import { AppError } from "../core/errors.ts";
import type { ControlContext } from "./context.ts";

export async function liveAgent(ctx: ControlContext, id: string): Promise<AgentInfo | null> {
  return (await listAgents(ctx.topology.agents)).find((a) => a.id === id) ?? null;
}

export async function drainAgent(ctx: ControlContext, p: Principal, id: string): Promise<AgentInfo> {
  const agent = await liveAgent(ctx, id);
  if (!agent) throw new AppError("not_found", `agent ${id} not found (not connected)`);
  await signalAgent(ctx.topology.signals, id, { kind: "drain", at: Date.now(), by: p.sub });
  return { ...agent, draining: true };
}

export interface Removed extends RemovalResult {
  agentId: string;
  /** The agent tokens revoked. */
  revokedTokens: string[];
  /** Whether it was in the registry (live) when removed. */
  wasLive: boolean;
}

export async function removeAgentFully(ctx: ControlContext, p: Principal, id: string): Promise<Removed> {
  const tokens = (await ctx.tokens.ledger.list(null)).filter((t) => t.role === "agent" && t.agentId === id && !t.revoked);
  const wasLive = !!(await liveAgent(ctx, id));
  if (!wasLive && !tokens.length) throw new AppError("not_found", `agent ${id} not found (no registry entry or agent token)`);
  await signalAgent(ctx.topology.signals, id, { kind: "removed", at: Date.now(), by: p.sub });
  const revokedTokens: string[] = [];
  for (const t of tokens) revokedTokens.push((await ctx.tokens.ledger.revoke(t.id, actorOf(p))).id);
  await removeAgent(ctx.topology.agents, id);
  const released = await releaseAgentLeases({ store: ctx.store, leases: ctx.topology.leases, cancelRequested: (j) => cancelRequested(ctx.topology.signals, j) }, id);
  return { agentId: id, revokedTokens, wasLive, ...released };
}
