/**
 * The job record: one NATS KV key per job holding its whole lifecycle. Every change is a
 * declared transition, written as one compare-and-set on the key's revision.
 */
import { AppError } from "../core/errors.ts";
import type { Requirements } from "./labels.ts";
import type { JobTrace } from "../core/trace/traceparent.ts";

export const STATES = [
  "queued", "leased", "booting", "runner_registered", "running", "awaiting_github", "stuck",
  "succeeded", "failed", "timed_out", "cancelled",
] as const;
export type JobState = (typeof STATES)[number];
export const TERMINAL: ReadonlySet<JobState> = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
/** States in which an agent holds the job's lease (and owns its record). */
export const ACTIVE: ReadonlySet<JobState> = new Set(["leased", "booting", "runner_registered", "running"]);

/**
 * The only transitions the step runner accepts. `queued` from an active state is a retry.
 * GitHub jobs also use `runner_registered` (the JIT runner is up, waiting for GitHub to assign a
 * job), `awaiting_github` (no runner of ours holds the job; GitHub's verdict is pending) and
 * `stuck` (a step overran its deadline; the reconciler re-drives it). A GitHub job's verdict can
 * arrive in any non-terminal state, hence the direct edges to `succeeded`.
 */
const TRANSITIONS: Record<JobState, readonly JobState[]> = {
  queued: ["leased", "cancelled", "failed", "succeeded", "timed_out", "awaiting_github", "stuck"],
  leased: ["booting", "queued", "cancelled", "failed", "succeeded", "timed_out", "awaiting_github", "stuck"],
  booting: ["running", "runner_registered", "queued", "cancelled", "failed", "timed_out", "succeeded", "awaiting_github", "stuck"],
  runner_registered: ["running", "queued", "awaiting_github", "succeeded", "failed", "cancelled", "timed_out", "stuck"],
  running: ["succeeded", "failed", "timed_out", "cancelled", "queued", "awaiting_github"],
  awaiting_github: ["succeeded", "failed", "cancelled", "timed_out", "queued", "stuck"],
  stuck: ["queued", "succeeded", "failed", "cancelled", "timed_out", "awaiting_github"],
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
  source: "direct" | "github" | "gitea" | "forgejo";
  /** The organisation (tenant) the job belongs to (src/jobs/org.ts says where it comes from). Every
   * read, cancel, event and log of the job is checked against it. A record written before jobs had
   * one reads as the default org (`orgOf`). */
  org: string;
  command: string[];
  env: Record<string, string>;
  /** Names of the job's secret env values. The values are only in `sealed`: passed to the job's lease
   * holder at claim (src/jobs/handout.ts), masked in its logs, never returned by the API. */
  secrets: string[];
  /** The secret values, encrypted with the control plane's key and bound to this job (src/auth/seal.ts);
   * absent for a job without secrets. Dropped at the terminal transition. (Records from before the
   * handout minted cache tokens carry the job's cache runtime token here too.) */
  sealed?: string;
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
  /** The job's Actions cache scope; its runtime token is minted by the handout at claim, never stored. */
  cache?: { repo: string; ref: string };
  /** Do not start this attempt before this time (ms since epoch): stored retry backoff. */
  notBefore?: number;
  /** For jobs that came from GitHub: where the job lives there and what happened to its runners. */
  github?: GithubRef;
  /** For jobs that came from a Gitea or Forgejo instance (NIMBUS_FORGES): where the job lives there. */
  forge?: ForgeRef;
  /** The job's trace (W3C traceparent; its span id is the job's root span), made at creation when tracing is on. */
  trace?: JobTrace;
}

/** A GitHub workflow job as Nimbus tracks it (written into the job record; data only). */
export interface GithubRef {
  jobId: number;
  runId: number;
  runAttempt: number;
  installationId: number;
  owner: string;
  repo: string;
  /** Set when the repository belongs to an organisation (org-scoped runners are possible). */
  org?: string;
  workflowName?: string;
  /** The branch the workflow run is for (`head_branch`). */
  branch?: string;
  jobName?: string;
  htmlUrl?: string;
  /** GitHub's `created_at` (ms since epoch). */
  createdAt?: number;
  /** When Nimbus first heard of the job, and how. */
  receivedAt: number;
  via: "webhook" | "poll";
  /** Runner failures so far (crash, acquire error, never assigned) and the budget before the job fails. */
  runnerFailures: number;
  failureBudget: number;
  /** One entry per runner started for this job: which GitHub job it actually took. */
  runners: RunnerPairing[];
  /** The runner that actually ran this GitHub job (from `in_progress`), whoever started it. */
  ranOn?: { runnerName: string; runnerId?: number };
  conclusion?: string;
}

/** A Gitea/Forgejo Actions job as Nimbus tracks it (data only). */
export interface ForgeRef {
  /** The connection's id (NIMBUS_FORGES) and the instance's kind. */
  forgeId: string;
  kind: "gitea" | "forgejo";
  jobId: number;
  runId: number;
  /** owner/name on the forge. */
  repo: string;
  jobName?: string;
  receivedAt: number;
  via: "webhook" | "poll";
  /** One entry per runner registered for this job: which task it actually took. */
  runners: RunnerPairing[];
  conclusion?: string;
}

export interface RunnerPairing {
  attempt: number;
  runnerName: string;
  runnerId?: number;
  /** The GitHub job this runner took (may be another job with the same labels). */
  tookJobId?: number;
  outcome?: string;
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** The record as the API shows it: secrets by name only, the sealed blob left out. */
export function publicJob(job: JobRecord): Omit<JobRecord, "sealed"> {
  const { sealed: _sealed, cache, ...rest } = job;
  return { ...rest, ...(cache ? { cache: { repo: cache.repo, ref: cache.ref } } : {}) };
}

