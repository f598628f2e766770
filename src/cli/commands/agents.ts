import type { AgentInfo } from "../../agents/registry.ts";
import type { Command } from "../command.ts";
import { ago, table } from "../output.ts";

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
