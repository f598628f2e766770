/**
 * How long a job has taken, as one phrase the CLI and the dashboard both show: "waiting 4m44s"
 * until an agent takes it, "running for 12.0s" while it runs, "took 3.1s" once it is over, and
 * "waited 2m0s" for a job that ended without ever starting (cancelled while queued). Pure.
 */
import { duration } from "../core/durations.ts";
import { TERMINAL, type JobRecord } from "./record.ts";

type Timed = Pick<JobRecord, "state" | "createdAt" | "updatedAt" | "times">;

/** Whether an agent ever took the job (any attempt). */
export function everStarted(job: Timed): boolean {
  return job.times.leased !== undefined || job.times.booting !== undefined || job.times.running !== undefined;
}

export function jobTiming(job: Timed, now = Date.now()): string {
  if (TERMINAL.has(job.state)) return `${everStarted(job) ? "took" : "waited"} ${duration(job.updatedAt - job.createdAt)}`;
  if (job.state === "queued") return `waiting ${duration(now - job.createdAt)}`;
  return `running for ${duration(now - job.createdAt)}`;
}
