/**
 * Webhook intake core: record intent, never call GitHub. A delivery id is fenced once (72 h);
 * `queued` creates the job keyed by the GitHub job id (idempotent) and enqueues it;
 * `in_progress` and `completed` are recorded as facts (which runner took which job, the
 * conclusion) for the job's owner to act on. The reconciler's poll creates jobs through the same
 * `createGithubJob`.
 */
import type { KV } from "@nats-io/kv";
import { isAppError } from "../core/errors.ts";
import { fenceDelivery, type Fenced } from "../jobs/delivery-fence.ts";
import { admitForgeJob } from "../jobs/admit.ts";
import { keyToken } from "../nats/keys.ts";
import { boundedList, boundedText, type Logger } from "../core/log.ts";
import { hasBaseLabel, parseLabels, poolOf, type LabelOptions, type Requirements } from "../jobs/labels.ts";
import { refuseUnservedDocker } from "../jobs/docker-serving.ts";
import type { JobRecord, JobState } from "../jobs/record.ts";
import type { JobStore } from "../jobs/store.ts";
import { orgOfLogin } from "../jobs/org.ts";
import type { GithubConfig } from "./config.ts";
import { ghJobKey, noteInstallation, recordAssignment, recordJobFacts, type GhStatus } from "./facts.ts";
import { bounded, WEBHOOK_EVENTS, WEBHOOK_OUTCOMES, type GithubMetrics } from "./metrics.ts";
import type { Admission } from "../jobs/limits/window.ts";
import { githubCacheScope } from "./cache-scope.ts";
import { asWorkflowJob, ghTime, type Delivery, type WorkflowJobPayload } from "./webhook.ts";

export interface IntakeDeps {
  store: JobStore;
  github: KV;
  deliveries: KV;
  limiter: Admission;
  labels: LabelOptions;
  config: GithubConfig;
  metrics: GithubMetrics;
  log: Logger;
  /** The pools each live agent serves (the agent registry): a docker job none serves is failed at intake (src/jobs/docker-serving.ts). */
  servedPools?: () => Promise<string[][]>;
  now?: () => number;
}

export interface IntakeResult {
  status: number;
  body: Record<string, unknown>;
}


/**
 * Handle one verified delivery; a repeated delivery id is answered 200 and changes nothing.
 * The fence write and the event's work run side by side (one round trip saved): the work is
 * idempotent — the job is keyed by the GitHub job id, facts only move forward — so a replay
 * that gets this far changes nothing, and it never re-enqueues (that waits for the fence).
 */
export async function intakeDelivery(deps: IntakeDeps, d: Delivery): Promise<IntakeResult> {
  const event = bounded(d.event, WEBHOOK_EVENTS);
  let r: Fenced<IntakeResult>;
  try {
    r = await fenceDelivery(deps.deliveries, keyToken(d.deliveryId), d.event, (fresh) => handleEvent(deps, d, fresh));
  } catch (e) {
    deps.metrics.webhooks.inc({ event, outcome: bounded(isAppError(e) ? e.code : "error", WEBHOOK_OUTCOMES) });
    throw e;
  }
  if (r.duplicate) {
    deps.metrics.webhooks.inc({ event, outcome: "duplicate" });
    return { status: 200, body: { ok: true, duplicate: true } };
  }
  deps.metrics.webhooks.inc({ event, outcome: bounded(r.result.body.outcome ?? "ok", WEBHOOK_OUTCOMES) });
  return r.result;
}

async function handleEvent(deps: IntakeDeps, d: Delivery, fresh: Promise<boolean>): Promise<IntakeResult> {
  if (d.event === "ping") return { status: 200, body: { ok: true, outcome: "pong" } };
  if (d.event !== "workflow_job") return { status: 200, body: { ok: true, outcome: "ignored", reason: `event ${d.event} is not handled` } };
  const p = asWorkflowJob(d.payload);
  if (!hasBaseLabel(p.workflow_job.labels, deps.labels)) return { status: 200, body: { ok: true, outcome: "ignored", reason: "no base label" } };
  if (!p.installation?.id) return { status: 200, body: { ok: true, outcome: "ignored", reason: "not an App delivery (no installation)" } };
  const noting = noteRepo(deps, p);
  let r: IntakeResult;
  switch (p.action) {
    case "queued": {
      const c = await createGithubJob(deps, p, "webhook", "queued", fresh);
      r = { status: c.created ? 201 : 200, body: { ok: true, outcome: c.created ? "created" : "exists", jobId: c.jobId } };
      break;
    }
    case "in_progress":
    case "completed":
      await recordObservation(deps, p);
      r = { status: 200, body: { ok: true, outcome: "recorded", jobId: ghJobKey(p.workflow_job.id) } };
      break;
    default:
      r = { status: 200, body: { ok: true, outcome: "ignored", reason: `action ${p.action}` } };
  }
  await noting;
  return r;
}

/** Remember the installation and repository for the reconciler's polls (once a minute per repository; a failure is retried by the next delivery). */
const noted = new Map<string, number>();
async function noteRepo(deps: IntakeDeps, p: WorkflowJobPayload): Promise<void> {
  const key = `${p.installation!.id}/${p.repository.full_name}`;
  const now = Date.now();
  if ((noted.get(key) ?? 0) > now - 60_000) return;
  noted.set(key, now);
  const account = installationAccount(p);
  await noteInstallation(deps.github, p.installation!.id, account, `${p.repository.owner.login}/${p.repository.name}`).catch((e) => {
    noted.delete(key);
    deps.log.warn("installation not noted", { installationId: p.installation!.id, error: e });
  });
}

/** What a webhook or a poll says about a job, as facts; the runner that took it, if ours. */
export async function recordObservation(
  deps: Pick<IntakeDeps, "github" | "store" | "config" | "labels" | "log" | "metrics" | "limiter">,
  p: WorkflowJobPayload,
  via: "webhook" | "poll" = "webhook",
): Promise<void> {
  const wj = p.workflow_job;
  const status: GhStatus = p.action === "completed" || wj.status === "completed" ? "completed" : p.action === "in_progress" || wj.status === "in_progress" ? "in_progress" : "queued";
  const now = Date.now();
  // Independent writes, side by side: the job's facts, the runner's pairing, and whether we know the job.
  const [, , known] = await Promise.all([
    recordJobFacts(deps.github, {
      ghJobId: wj.id,
      status,
      conclusion: status === "completed" ? (wj.conclusion ?? "unknown") : undefined,
      runnerName: wj.runner_name || undefined,
      runnerId: wj.runner_id || undefined,
      queuedAt: ghTime(wj.created_at),
      inProgressAt: status !== "queued" ? (ghTime(wj.started_at) ?? now) : undefined,
      completedAt: status === "completed" ? (ghTime(wj.completed_at) ?? now) : undefined,
      learntAt: now,
    }),
    wj.runner_name ? recordAssignment(deps.github, wj.runner_name, wj.id, wj.runner_id) : undefined,
    status !== "queued" ? deps.store.get(ghJobKey(wj.id)) : null,
  ]);
  // A job we never saw queued (its webhook was lost) is tracked from here on, without a runner.
  if (status !== "queued" && !known) await createGithubJob(deps, p, via, "awaiting_github").catch((e) => {
    if (!isAppError(e, "rate_limited")) throw e;
  });
}

function unservedDocker(pool: string, served: string[][]): string | undefined {
  try {
    refuseUnservedDocker(pool, served);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function requirementsOf(labels: string[], opts: LabelOptions): { req: Requirements; error?: string } {
  try {
    return { req: parseLabels(labels, opts) };
  } catch (e) {
    return { req: parseLabels([], opts), error: (e as Error).message };
  }
}

/**
 * The account the App is installed on: the installation's account when the payload names it, else
 * the organisation, else the repository's owner (an installation covers one account's repositories).
 */
export function installationAccount(p: WorkflowJobPayload): string {
  return p.installation?.account?.login ?? p.organization?.login ?? p.repository.owner.login;
}

/** Create the Nimbus job for a GitHub workflow job (idempotent: an existing one is returned). */
export async function createGithubJob(
  deps: Pick<IntakeDeps, "store" | "config" | "labels" | "log" | "metrics" | "limiter" | "servedPools">,
  p: WorkflowJobPayload,
  via: "webhook" | "poll",
  initial: JobState = "queued",
  /** Whether this delivery is new (a replay must not re-enqueue an existing job). */
  fresh: Promise<boolean> = Promise.resolve(true),
): Promise<{ jobId: string; created: boolean }> {
  const wj = p.workflow_job;
  const id = ghJobKey(wj.id);
  const org = p.organization?.login ?? p.repository.owner.login;
  const tenant = orgOfLogin(installationAccount(p));
  const now = Date.now();
  const labelled = requirementsOf(wj.labels, deps.labels);
  const { req } = labelled;
  // A docker job no agent can run fails at once, saying what it needs, rather than wait forever (GitHub keeps it queued).
  const error = labelled.error ?? (initial === "queued" && req.docker && deps.servedPools ? unservedDocker(poolOf(req), await deps.servedPools()) : undefined);
  const c = deps.config;
  const state: JobState = error ? "failed" : initial;
  const record: JobRecord = {
    id,
    name: [wj.workflow_name, wj.name].filter(Boolean).join(" / ") || undefined,
    source: "github",
    org: tenant,
    command: c.githubRunnerCommand,
    env: {},
    secrets: [],
    labels: wj.labels,
    requirements: req,
    pool: poolOf(req),
    timeoutSeconds: c.githubJobTimeoutSeconds,
    state,
    attempt: 1,
    maxAttempts: c.githubMaxAttempts,
    createdAt: now,
    updatedAt: now,
    times: { [state]: now },
    reason: error ? `rejected: ${error}` : undefined,
    createdBy: `github:${org}`,
    cache: githubCacheScope(p),
    github: {
      jobId: wj.id,
      runId: wj.run_id,
      runAttempt: wj.run_attempt ?? 1,
      installationId: p.installation!.id,
      owner: p.repository.owner.login,
      repo: p.repository.name,
      org: p.organization?.login ?? (p.repository.owner.type === "Organization" ? p.repository.owner.login : undefined),
      workflowName: wj.workflow_name ?? undefined,
      branch: typeof wj.head_branch === "string" ? wj.head_branch.slice(0, 255) : undefined,
      jobName: wj.name,
      htmlUrl: wj.html_url,
      createdAt: ghTime(wj.created_at),
      receivedAt: now,
      via,
      runnerFailures: 0,
      failureBudget: c.githubFailureBudget,
      runners: [],
    },
  };
  let admitted: { jobId: string; created: boolean };
  try {
    admitted = await admitForgeJob({ store: deps.store, limiter: deps.limiter }, record, fresh);
  } catch (e) {
    if (isAppError(e, "rate_limited")) deps.metrics.rateLimited.inc();
    throw e;
  }
  if (!admitted.created) return admitted;
  if (error) deps.log.warn(labelled.error ? "GitHub job rejected: impossible labels" : "GitHub job rejected: no agent serves docker", { jobId: id, labels: boundedList(wj.labels), reason: boundedText(error, 300) });
  deps.metrics.jobsCreated.inc({ via });
  return { jobId: id, created: true };
}
