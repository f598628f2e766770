import type { AgentInfo } from "../../agents/registry.ts";
import type { Command } from "../command.ts";
import { ago, table } from "../output.ts";
import { parseTtl } from "../../auth/tokens.ts";

export const agentsList: Command = {
  name: "agents list",
  summary: "list live agents, their pools and running jobs",
  usage: "agents list [--json]",
  options: {},
  async run(ctx) {
    const api = await ctx.client();
    const { agents } = await api.get<{ agents: AgentInfo[] }>("/api/agents");
    if (ctx.json) return ctx.out(JSON.stringify(agents, null, 2)), 0;
    if (!agents.length) return ctx.out("no agents are connected"), 0;
    const rows = agents.map((a) => ({
      id: a.id, state: a.draining ? "draining" : "ready", drivers: a.drivers.join(","), slots: `${a.running.length}/${a.slots}`,
      pools: a.pools.join(","), heartbeat: ago(a.heartbeatAt), version: a.version,
    }));
    ctx.out(table(rows, ["id", "state", "drivers", "slots", "pools", "heartbeat", "version"]));
    return 0;
  },
};

const runningText = (a: AgentInfo) => (a.running.length ? `${a.running.length} job(s) running: ${a.running.join(", ")}` : "empty");

export const agentsDrain: Command = {
  name: "agents drain",
  summary: "stop new work on an agent (running jobs finish); --wait until it is empty",
  usage: "agents drain ID [--wait] [--timeout 6h] [--json]",
  details: `The agent takes no new jobs from then on and finishes the ones it runs (operators only). It stays
connected, shown as draining, until it is stopped or removed (\`nimbus agents remove ID\`). --wait polls
until it runs nothing (or is gone) and says so; --timeout bounds the wait (exit 1 when it passes).`,
  options: { wait: { type: "boolean" }, timeout: { type: "string" } },
  positionals: { min: 1, max: 1, name: "ID" },
  async run(ctx, v, [id]) {
    const api = await ctx.client();
    const { agent } = await api.post<{ agent: AgentInfo }>(`/api/agents/${encodeURIComponent(id!)}/drain`);
    if (!v.wait) {
      ctx.out(ctx.json ? JSON.stringify(agent, null, 2) : `agent ${agent.id} is draining: ${runningText(agent)}`);
      return 0;
    }
    const deadline = Date.now() + parseTtl(typeof v.timeout === "string" ? v.timeout : "6h") * 1000;
    let last = "";
    for (;;) {
      const { agents } = await api.get<{ agents: AgentInfo[] }>("/api/agents");
      const a = agents.find((x) => x.id === id);
      if (!a || (a.draining && !a.running.length)) {
        ctx.out(ctx.json ? JSON.stringify({ id, empty: true, connected: !!a }) : `agent ${id} is empty${a ? " (drained, still connected)" : " (no longer connected)"}`);
        return 0;
      }
      const now = runningText(a);
      if (now !== last && !ctx.json) ctx.err(`agent ${id} is draining: ${now}`);
      last = now;
      if (Date.now() > deadline) {
        ctx.err(`agent ${id} still runs ${a.running.length} job(s) after the timeout`);
        return 1;
      }
      await Bun.sleep(1000);
    }
  },
};

export const agentsRemove: Command = {
  name: "agents remove",
  summary: "remove an agent: its registry entry, its agent tokens, and its leases (jobs requeued)",
  usage: "agents remove ID [--json]",
  details: `Operators only. Deletes the agent's registry entry and tells it to stop heartbeating, revokes its
agent tokens (so its NATS credentials are not renewed), and requeues the jobs whose leases it still
holds (each by a compare-and-set on the lease; a job that is out of attempts fails). Drain it first
(\`nimbus agents drain ID --wait\`) to let its jobs finish instead.`,
  options: {},
  positionals: { min: 1, max: 1, name: "ID" },
  async run(ctx, _v, [id]) {
    const { removed } = await (await ctx.client()).post<{ removed: { agentId: string; revokedTokens: string[]; requeued: string[]; failed: string[]; wasLive: boolean } }>(`/api/agents/${encodeURIComponent(id!)}/remove`);
    if (ctx.json) return ctx.out(JSON.stringify(removed, null, 2)), 0;
    ctx.out(`removed agent ${removed.agentId}: ${removed.revokedTokens.length} token(s) revoked, ${removed.requeued.length} job(s) requeued${removed.failed.length ? `, ${removed.failed.length} failed (out of attempts)` : ""}`);
    return 0;
  },
};
