/**
 * The agent registry: each agent puts its own key every heartbeat; the bucket's max age makes a
 * silent agent disappear on its own.
 */
import type { KV } from "@nats-io/kv";
import { listKeys } from "../nats/list-keys.ts";

export interface AgentInfo {
  id: string;
  hostname: string;
  labels: string[];
  pools: string[];
  drivers: string[];
  slots: number;
  running: string[];
  draining: boolean;
  startedAt: number;
  heartbeatAt: number;
  version: string;
}

export async function putAgent(kv: KV, info: AgentInfo): Promise<void> {
  await kv.put(info.id, new TextEncoder().encode(JSON.stringify(info)));
}

export async function removeAgent(kv: KV, id: string): Promise<void> {
  await kv.delete(id);
}

export async function listAgents(kv: KV): Promise<AgentInfo[]> {
  const out: AgentInfo[] = [];
  for (const key of await listKeys(kv)) {
    const e = await kv.get(key);
    if (e && e.operation === "PUT" && e.value.length) out.push(e.json<AgentInfo>());
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
