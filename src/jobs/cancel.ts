/**
 * Cancel is an out-of-band signal: a queued job is cancelled at once (one CAS); an active job gets
 * a signal key that its agent acts on (it owns the record while it holds the lease).
 */
import type { KV } from "@nats-io/kv";
import { AppError } from "../core/errors.ts";
import { ACTIVE, TERMINAL, type JobRecord } from "./record.ts";
import { tryTransition } from "./lifecycle/transition.ts";
import type { JobStore } from "./store.ts";

export interface CancelSignal {
  cancel: true;
  at: number;
  by: string;
}

export async function cancelRequested(signals: KV, jobId: string): Promise<boolean> {
  const e = await signals.get(jobId);
  return !!e && e.operation === "PUT" && e.value.length > 0;
}

export async function cancelJob(store: JobStore, signals: KV, id: string, by: string): Promise<{ job: JobRecord; pending: boolean }> {
  for (let tries = 0; tries < 5; tries++) {
    const cur = await store.get(id);
    if (!cur) throw new AppError("not_found", `job ${id} not found`);
    if (TERMINAL.has(cur.value.state)) return { job: cur.value, pending: false };
    if (ACTIVE.has(cur.value.state)) {
      const signal: CancelSignal = { cancel: true, at: Date.now(), by };
      await signals.put(id, new TextEncoder().encode(JSON.stringify(signal)));
      return { job: cur.value, pending: true };
    }
    const next = await tryTransition(store, cur, "cancelled", { reason: `cancelled by ${by}` });
    if (next !== "stale") return { job: next.value, pending: false };
    // An agent leased it meanwhile: go round and signal it instead.
  }
  throw new AppError("unavailable", `job ${id} kept changing; try the cancel again`);
}
