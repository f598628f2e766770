/** Direct job submission: validate, record intent (one KV create), enqueue. */
import { createHash } from "node:crypto";
import { AppError, isAppError } from "../core/errors.ts";
import { newJobId } from "../core/ids.ts";
import { parseLabels, poolOf, type LabelOptions } from "./labels.ts";
import { refuseUnservedDocker } from "./docker-serving.ts";
import type { JobRecord, Versioned } from "./record.ts";
import type { JobSpec } from "./spec.ts";
import { refuseInlineSecrets } from "./inline-secrets.ts";
import type { SealedPayload } from "../auth/seal.ts";
import type { JobStore } from "./store.ts";
import { orgOf } from "./org.ts";

export interface SubmitDeps {
  store: JobStore;
  labels: LabelOptions;
  maxAttempts: number;
  now?: () => number;
  /** Jobs get an Actions cache scope (repository and ref; the handout mints its runtime token at claim). */
  cache?: boolean;
  /** Encrypts the job's secret values, bound to the job id (src/auth/seal.ts).
   * Absent: a job with secrets is refused (nothing secret is ever stored in the clear). */
  seal?: (jobId: string, payload: SealedPayload) => Promise<string>;
  /** Take a submission slot of the job's org (src/jobs/limits/window.ts), or throw `rate_limited`; taken after
   * every check and before the first write, so a refused job leaves no record, message or event. */
  admit?: (job: JobRecord) => Promise<{ refund(): void }>;
  /** The pools each live agent serves (the agent registry): a docker job none serves is refused (docker-serving.ts). */
  servedPools?: () => Promise<string[][]>;
}

/** Repository name of a direct job's cache when the spec names none: one per submitter. */
export function defaultCacheRepo(subject: string): string {
  return `direct/${subject.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 100) || "anonymous"}`;
}

/**
 * The job id of an idempotent submission is derived from (org, subject, key): a second create
 * conflicts. The org is part of it, so the same subject and key in two orgs are two jobs.
 */
export function idempotentJobId(org: string, subject: string, key: string): string {
  const digest = createHash("sha256").update(`${org}\0${subject}\0${key}`).digest("hex");
  return `k-${digest.slice(0, 24)}`;
}

function sameSpec(job: JobRecord, spec: JobSpec): boolean {
  const a = JSON.stringify([job.command, job.env, [...job.secrets].sort(), job.labels, job.timeoutSeconds]);
  const b = JSON.stringify([spec.command, spec.env, Object.keys(spec.secrets).sort(), spec.labels, spec.timeoutSeconds]);
  return a === b;
}

/** Who submits: the token's subject, and the org the job goes to (src/jobs/org.ts `submissionOrg`). */
export interface Submitter {
  sub: string;
  org: string;
}

export async function submitJob(deps: SubmitDeps, spec: JobSpec, by: Submitter): Promise<{ job: Versioned<JobRecord>; created: boolean }> {
  const now = deps.now?.() ?? Date.now();
  const createdBy = by.sub;
  refuseInlineSecrets(spec);
  const requirements = parseLabels(spec.labels, deps.labels);
  if (requirements.docker && deps.servedPools) refuseUnservedDocker(poolOf(requirements), await deps.servedPools());
  const id = spec.idempotencyKey ? idempotentJobId(by.org, createdBy, spec.idempotencyKey) : newJobId(now);
  const record: JobRecord = {
    id,
    name: spec.name,
    source: "direct",
    org: by.org,
    command: spec.command,
    env: spec.env,
    secrets: Object.keys(spec.secrets),
    labels: spec.labels,
    requirements,
    pool: poolOf(requirements),
    timeoutSeconds: spec.timeoutSeconds,
    state: "queued",
    attempt: 1,
    maxAttempts: deps.maxAttempts,
    createdAt: now,
    updatedAt: now,
    times: { queued: now },
    idempotencyKey: spec.idempotencyKey,
    createdBy,
  };
  if (deps.cache) record.cache = { repo: spec.cache?.repo ?? defaultCacheRepo(createdBy), ref: spec.cache?.ref ?? "refs/heads/main" };
  if (record.secrets.length) {
    if (!deps.seal) throw new AppError("unavailable", "this control plane cannot seal secrets");
    record.sealed = await deps.seal(id, { secrets: spec.secrets });
  }
  const slot = await deps.admit?.(record);
  let job: Versioned<JobRecord>;
  let created = true;
  try {
    job = await deps.store.create(record);
  } catch (e) {
    slot?.refund(); // nothing was created
    if (!isAppError(e, "conflict") || !spec.idempotencyKey) throw e;
    const existing = await deps.store.get(id);
    if (!existing || orgOf(existing.value) !== by.org) throw e;
    if (!sameSpec(existing.value, spec))
      throw new AppError("conflict", "idempotency key was already used for a different job spec", { jobId: id });
    job = existing;
    created = false;
  }
  // Enqueue also on a repeat: if the first request died between create and publish, this heals it
  // (the queue drops a duplicate message id within its window; agents drop stale messages after it).
  if (job.value.state === "queued") await deps.store.enqueue(job.value);
  return { job, created };
}
