/**
 * Writes to a job record, each one compare-and-set on the record's revision (JobStore.transition,
 * which nothing outside this file calls):
 *   - `casUnleased`: for a record no agent holds (queued, stuck, awaiting GitHub) or the claim;
 *     throws StaleRevision when someone else moved it first;
 *   - `tryTransition`: the same, with "stale" returned as a value;
 *   - `fencedWrite`: the lease holder's write: renew the lease by CAS on the revision it holds,
 *     then CAS the record. "lost" when either moved: the holder stops, it never retries blindly.
 * Every write into a terminal state also drops the record's sealed secrets (`withTerminalDrops`):
 * nothing that opens to a secret outlives the job.
 */
import { TERMINAL, type JobRecord, type JobState, type Versioned } from "../record.ts";
import { isStale, type JobStore } from "../store.ts";
import { isLeaseLost, type Lease } from "./lease.ts";

/** The patch as written: a terminal state drops the sealed secrets (the job's secrets end with it). */
export function withTerminalDrops(to: JobState, patch: Partial<JobRecord>): Partial<JobRecord> {
  return TERMINAL.has(to) ? { ...patch, sealed: undefined } : patch;
}

export function casUnleased(store: JobStore, cur: Versioned<JobRecord>, to: JobState, patch: Partial<JobRecord> = {}, at?: number): Promise<Versioned<JobRecord>> {
  return store.transition(cur, to, withTerminalDrops(to, patch), at);
}

export async function tryTransition(
  store: JobStore,
  cur: Versioned<JobRecord>,
  to: JobState,
  patch: Partial<JobRecord> = {},
  at?: number,
): Promise<Versioned<JobRecord> | "stale"> {
  try {
    return await store.transition(cur, to, withTerminalDrops(to, patch), at);
  } catch (e) {
    if (isStale(e)) return "stale";
    throw e;
  }
}

export async function fencedWrite(
  lease: Lease,
  store: JobStore,
  cur: Versioned<JobRecord>,
  to: JobState,
  patch: Partial<JobRecord> = {},
): Promise<Versioned<JobRecord> | "lost"> {
  try {
    await lease.renew();
    return await store.transition(cur, to, withTerminalDrops(to, patch));
  } catch (e) {
    if (isLeaseLost(e) || isStale(e)) return "lost";
    throw e;
  }
}
