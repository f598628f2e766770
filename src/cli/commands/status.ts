import type { AgentInfo } from "../../agents/registry.ts";
import type { Command } from "../command.ts";
import { readState } from "../../up/state.ts";
import { table } from "../output.ts";
import type { ApiClient } from "../client.ts";
import { bytes } from "./cache.ts";

/** The registry at a glance, from its usage (the token's org, or every org for an operator); null when it does not answer. */
async function registrySummary(api: ApiClient): Promise<{ repositories: number; bytes: number; orgs: number } | null> {
  if (!api.registryUrl) return null;
  const r = await api.get<{ usage: { repositories: number }[]; totalBytes: number }>("/v1/registry/usage", api.registryUrl).catch(() => null);
  return r ? { repositories: r.usage.reduce((n, u) => n + u.repositories, 0), bytes: r.totalBytes, orgs: r.usage.filter((u) => u.repositories > 0).length } : null;
}

export const status: Command = {
  name: "status",
  summary: "endpoints, health of each service, agents, queue depth and the registry's size",
  usage: "status [--json]",
  options: {},
  async run(ctx) {
    const api = await ctx.client();
    const state = readState(ctx.dataDir);
    const natsMonitor = state?.natsMonitorUrl;
    const services = [
      { service: "control", url: api.controlUrl, healthy: await api.health(`${api.controlUrl}/readyz`) },
      { service: "logs", url: api.logsUrl, healthy: await api.health(`${api.logsUrl}/healthz`) },
      ...(api.cacheUrl ? [{ service: "cache", url: api.cacheUrl, healthy: await api.health(`${api.cacheUrl}/healthz`) }] : []),
      ...(api.registryUrl ? [{ service: "registry", url: api.registryUrl, healthy: await api.health(`${api.registryUrl}/healthz`) }] : []),
      ...(natsMonitor ? [{ service: "nats", url: state!.natsUrl, healthy: await api.health(`${natsMonitor}/healthz?js-enabled-only=true`) }] : []),
    ];
    const { agents } = await api.get<{ agents: AgentInfo[] }>("/api/agents").catch(() => ({ agents: [] as AgentInfo[] }));
    const me = await api.get<{ sub: string; role: string; org: string | null }>("/api/whoami").catch(() => null);
    const queue = await api.get<{ total: number; pools: Record<string, number>; jobs: Record<string, number> }>("/api/queue").catch(() => null);
    const registry = await registrySummary(api);
    // Pools with waiting jobs that no live, undrained agent pulls from: their jobs wait until one joins.
    const served = new Set(agents.filter((a) => !a.draining).flatMap((a) => a.pools));
    const unserved = queue ? Object.keys(queue.pools).filter((p) => queue.pools[p]! > 0 && !served.has(p)) : [];
    const result = { dataDir: state ? ctx.dataDir : undefined, services, token: me, registry, agents: agents.map((a) => ({ id: a.id, running: a.running.length, slots: a.slots, draining: a.draining })), queue: queue && { ...queue, unserved } };
    if (ctx.json) return ctx.out(JSON.stringify(result, null, 2)), services.every((s) => s.healthy) ? 0 : 1;
    ctx.out(table(services.map((s) => ({ ...s, healthy: s.healthy ? "healthy" : "DOWN" })), ["service", "healthy", "url"]));
    ctx.out("");
    ctx.out(`agents: ${agents.length}${agents.length ? " (" + agents.map((a) => `${a.id} ${a.running.length}/${a.slots}${a.draining ? " draining" : ""}`).join(", ") + ")" : ""}`);
    if (me) ctx.out(`token:  ${me.sub}, ${me.role}${me.org ? ` of ${me.org} (agents are shared; queue and jobs are ${me.org}'s)` : " (every organisation)"}`);
    if (queue) {
      ctx.out(`queue:  ${queue.total} waiting${Object.keys(queue.pools).length ? " (" + Object.entries(queue.pools).map(([p, n]) => `${p}: ${n}${unserved.includes(p) ? " (no agent serves this pool: they wait)" : ""}`).join(", ") + ")" : ""}`);
      ctx.out(`jobs:   ${Object.entries(queue.jobs).map(([s, n]) => `${s} ${n}`).join(", ") || "none"}`);
    }
    if (registry) ctx.out(`registry: ${registry.repositories} repositor${registry.repositories === 1 ? "y" : "ies"}, ${bytes(registry.bytes)}${me?.org ? ` (${me.org}'s)` : registry.orgs ? ` in ${registry.orgs} organisation${registry.orgs === 1 ? "" : "s"}` : ""}`);
    ctx.out(`dashboard: ${api.controlUrl}/ (sign in with a token; \`nimbus up\` prints a link that carries one)`);
    return services.every((s) => s.healthy) ? 0 : 1;
  },
};
