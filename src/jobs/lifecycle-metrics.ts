/**
 * What a job record's change says for the fleet's job metrics: the time a job waited in the queue
 * (queued → leased), the time its agent took to start it (leased → running: a VM's boot, a GitHub
 * runner's registration and assignment) and the time it ran (running → its end), each once per
 * attempt, taken from the record's own timestamps (`times`), so a watcher that missed an
 * intermediate revision still counts every step the record shows. Pure: the control plane's
 * metrics (src/control/metrics.ts) observe what this returns.
 */
import { TERMINAL, type JobRecord } from "./record.ts";

/** `end`: the attempt's end (every end, also of a job that never ran: cancelled in the queue); `execution` only for one that ran. */
export type Step = "queue" | "startup" | "execution" | "end";

export interface StepObservation {
  step: Step;
  seconds: number;
  pool: string;
  source: string;
  /** The end state, for `execution` and `end`. */
  outcome?: string;
}

const stamp = (j: JobRecord | undefined, s: keyof JobRecord["times"]) => j?.times?.[s];

/** The steps `next` completed that `prev` (the value it replaced; absent for a new key) had not, for this attempt. */
export function completedSteps(next: JobRecord | null, prev: JobRecord | undefined): StepObservation[] {
  if (!next || next.state === "queued") return [];
  const same = prev && prev.attempt === next.attempt ? prev : undefined;
  const queued = stamp(next, "queued");
  const leased = stamp(next, "leased");
  const running = stamp(next, "running");
  const out: StepObservation[] = [];
  const base = { pool: next.pool, source: next.source };
  // A stamp older than this attempt's queueing is an earlier attempt's.
  const fresh = (t: number | undefined): t is number => t !== undefined && queued !== undefined && t >= queued;
  // What `prev` already showed of this attempt was counted then.
  const had = (s: "leased" | "running") => fresh(stamp(same, s));
  if (fresh(leased) && !had("leased")) out.push({ ...base, step: "queue", seconds: (leased - queued!) / 1000 });
  if (fresh(running) && fresh(leased) && running >= leased && !had("running"))
    out.push({ ...base, step: "startup", seconds: (running - leased) / 1000 });
  if (TERMINAL.has(next.state) && !(same && TERMINAL.has(same.state))) {
    const end = stamp(next, next.state) ?? next.updatedAt;
    if (fresh(running) && end >= running) out.push({ ...base, step: "execution", seconds: (end - running) / 1000, outcome: next.state });
    out.push({ ...base, step: "end", seconds: queued !== undefined && end >= queued ? (end - queued) / 1000 : 0, outcome: next.state });
  }
  return out;
}
