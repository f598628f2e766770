/**
 * GitHub's verdict on a workflow job, applied to the Nimbus record. Whoever owns the record
 * applies it: the agent holding the lease, or (for queued, stuck and awaiting jobs, which no
 * agent holds) the reconciler. Every application is one CAS; losing it means someone else moved.
 */
import type { JobRecord, JobState, Versioned } from "../jobs/record.ts";
import { ACTIVE, TERMINAL } from "../jobs/record.ts";
import type { JobStore } from "../jobs/store.ts";
import { tryTransition } from "../jobs/lifecycle/transition.ts";
import type { JobFacts } from "./facts.ts";

export function verdictOf(conclusion: string | null | undefined): { state: JobState; reason?: string } {
  switch (conclusion) {
    case "success":
    case "neutral":
      return { state: "succeeded" };
    case "cancelled":
    case "skipped":
      return { state: "cancelled", reason: `GitHub: ${conclusion}` };
    case "timed_out":
      return { state: "timed_out", reason: "GitHub: timed_out" };
    default:
      return { state: "failed", reason: `GitHub: ${conclusion ?? "no conclusion"}` };
  }
}

/** The record patch that goes with the verdict: conclusion and the runner that really ran the job. */
export function verdictPatch(job: JobRecord, facts: JobFacts): Partial<JobRecord> {
  const v = verdictOf(facts.conclusion);
  return {
    reason: v.reason,
    github: {
      ...job.github!,
      conclusion: facts.conclusion ?? undefined,
      ranOn: facts.runnerName ? { runnerName: facts.runnerName, runnerId: facts.runnerId ?? undefined } : job.github!.ranOn,
    },
  };
}

/** For a record no agent holds: apply a known verdict. Returns the new record, or null when nothing applied. */
export async function applyVerdict(store: JobStore, cur: Versioned<JobRecord>, facts: JobFacts | null): Promise<Versioned<JobRecord> | null> {
  const s = cur.value.state;
  if (!facts || facts.status !== "completed" || TERMINAL.has(s) || ACTIVE.has(s) || !cur.value.github) return null;
  const next = await tryTransition(store, cur, verdictOf(facts.conclusion).state, verdictPatch(cur.value, facts), Math.max(Date.now(), cur.value.updatedAt));
  return next === "stale" ? null : next;
}
