/**
 * Signals to one agent, beside the jobs' cancel signals in the signals bucket (key `agent.<id>`,
 * which no job id can be): `drain` (take no new work, finish what runs) and `removed` (the operator
 * removed it: also stop heartbeating). The agent watches its key; a re-enrollment clears it.
 */
import type { KV } from "@nats-io/kv";

export type AgentSignal = { kind: "drain" | "removed"; at: number; by: string };

export const agentSignalKey = (agentId: string) => `agent.${agentId}`;

export async function signalAgent(signals: KV, agentId: string, s: AgentSignal): Promise<void> {
  await signals.put(agentSignalKey(agentId), new TextEncoder().encode(JSON.stringify(s)));
}

export async function clearAgentSignal(signals: KV, agentId: string): Promise<void> {
  await signals.delete(agentSignalKey(agentId));
}

/** A signal's value as the watcher sees it; anything else is null. */
export function parseAgentSignal(bytes: Uint8Array): AgentSignal | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as AgentSignal;
    return v && (v.kind === "drain" || v.kind === "removed") ? v : null;
  } catch {
    return null;
  }
}
