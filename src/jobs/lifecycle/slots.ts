/**
 * Running-job slots: a semaphore per organisation, correct across agents and self-healing. One KV
 * key per org (bucket `slots` of src/nats/topology.ts) holds the jobs that hold a slot, each with
 * its attempt and when it took the slot; it changes only by compare-and-set, so two agents racing
 * for an org's last slot cannot both win. A slot is taken at claim before the lease and given
 * back in cleanup; one whose job no longer holds a lease (the agent died) is pruned by the lease
 * sweeper (`pruneSlots`), so a lost agent never keeps an org's slot.
 */
import type { KV } from "@nats-io/kv";
import { keyToken } from "../../nats/keys.ts";
import { unlessCasLost } from "../../nats/errors.ts";
import { listKeys } from "../../nats/list-keys.ts";

export interface SlotHolder {
  attempt: number;
  /** When the slot was taken (ms since epoch, the taker's clock). */
  at: number;
}
export type SlotHolders = Record<string, SlotHolder>;

const enc = new TextEncoder();
const slotKey = (org: string) => keyToken(org);

async function read(kv: KV, key: string): Promise<{ holders: SlotHolders; revision: number }> {
  const e = await kv.get(key);
  if (!e || e.operation !== "PUT" || e.value.length === 0) return { holders: {}, revision: e?.revision ?? 0 };
  return { holders: e.json<SlotHolders>(), revision: e.revision };
}

/** Write `holders` over `revision` (0: the key was never written); null when someone moved it first. */
function cas(kv: KV, key: string, holders: SlotHolders, revision: number): Promise<number | null> {
  const value = enc.encode(JSON.stringify(holders));
  return unlessCasLost(revision === 0 ? kv.create(key, value) : kv.update(key, value, revision));
}

/**
 * Take one of `org`'s `limit` slots for the job's attempt. True when held (already holding it
 * counts; an older attempt's slot is taken over), false when every slot is held by other jobs.
 */
export async function acquireSlot(kv: KV, org: string, jobId: string, attempt: number, limit: number, now = Date.now()): Promise<boolean> {
  const key = slotKey(org);
  for (;;) {
    const { holders, revision } = await read(kv, key);
    if (holders[jobId]?.attempt === attempt) return true;
    const others = Object.keys(holders).filter((id) => id !== jobId).length;
    if (others >= limit) return false;
    if ((await cas(kv, key, { ...holders, [jobId]: { attempt, at: now } }, revision)) !== null) return true;
  }
}

/** Give back the job's slot if this attempt holds it (a later attempt's slot is left alone). */
export async function releaseSlot(kv: KV, org: string, jobId: string, attempt: number): Promise<void> {
  const key = slotKey(org);
  for (;;) {
    const { holders, revision } = await read(kv, key);
    if (holders[jobId]?.attempt !== attempt) return;
    const { [jobId]: _, ...rest } = holders;
    if ((await cas(kv, key, rest, revision)) !== null) return;
  }
}

/** Who holds `org`'s slots now. */
export async function slotHolders(kv: KV, org: string): Promise<SlotHolders> {
  return (await read(kv, slotKey(org))).holders;
}

/**
 * Drop every slot whose job holds no lease for that attempt, once the slot is older than `graceMs`
 * (a slot is taken just before its lease: the grace covers that step). Returns how many went.
 */
export async function pruneSlots(kv: KV, holdsLease: (jobId: string, attempt: number) => Promise<boolean>, graceMs: number, now = Date.now()): Promise<number> {
  let pruned = 0;
  for (const key of await listKeys(kv)) {
    for (;;) {
      const { holders, revision } = await read(kv, key);
      const dead: string[] = [];
      for (const [jobId, h] of Object.entries(holders)) if (now - h.at > graceMs && !(await holdsLease(jobId, h.attempt))) dead.push(jobId);
      if (dead.length === 0) break;
      const rest = Object.fromEntries(Object.entries(holders).filter(([id]) => !dead.includes(id)));
      if ((await cas(kv, key, rest, revision)) !== null) {
        pruned += dead.length;
        break;
      }
    }
  }
  return pruned;
}
