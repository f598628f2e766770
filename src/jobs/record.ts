/**
 * The job record: one NATS KV key per job holding its whole lifecycle. Every change is a
 * declared transition, written as one compare-and-set on the key's revision.
 */
import { AppError } from "../core/errors.ts";
import type { Requirements } from "./labels.ts";

export const STATES = ["queued", "leased", "booting", "running", "succeeded", "failed", "timed_out", "cancelled"] as const;
export type JobState = (typeof STATES)[number];
export const TERMINAL: ReadonlySet<JobState> = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
export const ACTIVE: ReadonlySet<JobState> = new Set(["leased", "booting", "running"]);

/** The only transitions the step runner accepts. `queued` from an active state is a retry. */
const TRANSITIONS: Record<JobState, readonly JobState[]> = {
  queued: ["leased", "cancelled", "failed"],
  leased: ["booting", "queued", "cancelled", "failed"],
  booting: ["running", "queued", "cancelled", "failed", "timed_out"],
  running: ["succeeded", "failed", "timed_out", "cancelled", "queued"],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: JobState, to: JobState): void {
  if (!canTransition(from, to)) throw new AppError("conflict", `job cannot go from ${from} to ${to}`, { from, to });
}

export interface JobRecord {
  id: string;
  name?: string;
  source: "direct" | "github";
  command: string[];
  env: Record<string, string>;
  /** Secret env values: passed to the job, masked in its logs, never returned by the API. */
  secrets: Record<string, string>;
  labels: string[];
  requirements: Requirements;
  pool: string;
  timeoutSeconds: number;
  state: JobState;
  attempt: number;
  maxAttempts: number;
  agentId?: string;
  exitCode?: number;
  reason?: string;
  createdAt: number;
  updatedAt: number;
  /** When each state was last entered (ms since epoch): the latency breakdown. */
  times: Partial<Record<JobState, number>>;
  idempotencyKey?: string;
  createdBy?: string;
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** The record as the API shows it: secret values replaced by their names only. */
export function publicJob(job: JobRecord): Omit<JobRecord, "secrets"> & { secrets: string[] } {
  return { ...job, secrets: Object.keys(job.secrets) };
}
