/**
 * Gitea/Forgejo intake core: record intent, never call the forge. A delivery id is fenced once per
 * connection (src/jobs/delivery-fence.ts); `queued`/`waiting` creates the Nimbus job keyed by the
 * connection and the forge's job id (idempotent, src/jobs/admit.ts) in the connection's organisation,
 * with the labels grammar GitHub jobs use. The poll creates jobs through the same `createForgeJob`.
 */
import type { KV } from "@nats-io/kv";
import { isAppError } from "../core/errors.ts";
import { boundedList, boundedText, type Logger } from "../core/log.ts";
import { admitForgeJob } from "../jobs/admit.ts";
import { fenceDelivery } from "../jobs/delivery-fence.ts";
import { hasBaseLabel, parseLabels, poolOf, type LabelOptions } from "../jobs/labels.ts";
import type { Admission } from "../jobs/limits/window.ts";
import type { JobRecord } from "../jobs/record.ts";
import type { JobStore } from "../jobs/store.ts";
import { keyToken } from "../nats/keys.ts";
import type { ForgeConnection, GiteaConfig } from "./config.ts";
import { asForgeWorkflowJob, type ForgeDelivery } from "./webhook.ts";
import { forgeRunnerLabels } from "./runners.ts";

export interface ForgeIntakeDeps {
  store: JobStore;
  deliveries: KV;
  limiter: Admission;
  labels: LabelOptions;
  config: GiteaConfig;
  maxAttempts: number;
  log: Logger;
  /** Counts by outcome, for the metrics (created, exists, duplicate, ignored, …). */
  count?: (forge: ForgeConnection, outcome: string) => void;
}

/** What a webhook or the poll says about one waiting job. */
export interface ForgeJobSeen {
  id: number;
  runId: number;
  name?: string;
  labels: string[];
  repo: string;
}

export const forgeJobKey = (forgeId: string, jobId: number) => `gt-${forgeId}-${jobId}`;

export async function intakeForgeDelivery(deps: ForgeIntakeDeps, forge: ForgeConnection, d: ForgeDelivery): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fenceDelivery(deps.deliveries, keyToken(`forge-${forge.id}-${d.deliveryId}`), d.event, async (fresh) => {
    if (d.event !== "workflow_job") return { status: 200, body: { ok: true, outcome: "ignored", reason: `event ${boundedText(d.event, 50)} is not handled` } };
    const p = asForgeWorkflowJob(d.payload);
    if (!hasBaseLabel(p.workflow_job.labels, deps.labels)) return { status: 200, body: { ok: true, outcome: "ignored", reason: "no base label" } };
    if (p.action !== "queued" && p.action !== "waiting") return { status: 200, body: { ok: true, outcome: "ignored", reason: `action ${boundedText(p.action, 50)}` } };
    const seen = { id: p.workflow_job.id, runId: p.workflow_job.run_id, name: p.workflow_job.name, labels: p.workflow_job.labels, repo: p.repository.full_name };
    const c = await createForgeJob(deps, forge, seen, "webhook", fresh);
    return { status: c.created ? 201 : 200, body: { ok: true, outcome: c.created ? "created" : "exists", jobId: c.jobId } };
  }).catch((e) => {
    deps.count?.(forge, isAppError(e) ? e.code : "error");
    throw e;
  });
  if (r.duplicate) {
    deps.count?.(forge, "duplicate");
    return { status: 200, body: { ok: true, duplicate: true } };
  }
  deps.count?.(forge, String(r.result.body.outcome));
  return r.result;
}

export async function createForgeJob(deps: ForgeIntakeDeps, forge: ForgeConnection, j: ForgeJobSeen, via: "webhook" | "poll", fresh?: Promise<boolean>) {
  const id = forgeJobKey(forge.id, j.id);
  const now = Date.now();
  let error: string | undefined;
  let req;
  try {
    req = parseLabels(j.labels, deps.labels);
    forgeRunnerLabels({ labels: j.labels } as JobRecord); // a label act_runner cannot carry: Gitea would never assign the job
  } catch (e) {
    error = (e as Error).message;
    req = parseLabels([], deps.labels);
  }
  const state = error ? "failed" : "queued";
  const record: JobRecord = {
    id,
    name: j.name ? boundedText(j.name, 200) : undefined,
    source: forge.kind,
    org: forge.org,
    command: deps.config.forgeRunnerCommand,
    env: {},
    secrets: [],
    labels: j.labels,
    requirements: req,
    pool: poolOf(req),
    timeoutSeconds: deps.config.forgeJobTimeoutSeconds,
    state,
    attempt: 1,
    maxAttempts: deps.maxAttempts,
    createdAt: now,
    updatedAt: now,
    times: { [state]: now },
    reason: error ? `rejected: ${error}` : undefined,
    createdBy: `${forge.kind}:${forge.id}`,
    forge: { forgeId: forge.id, kind: forge.kind, jobId: j.id, runId: j.runId, repo: boundedText(j.repo, 255), jobName: j.name ? boundedText(j.name, 200) : undefined, receivedAt: now, via, runners: [] },
  };
  const r = await admitForgeJob({ store: deps.store, limiter: deps.limiter }, record, fresh);
  if (r.created && error) deps.log.warn("forge job rejected: impossible labels", { jobId: id, labels: boundedList(j.labels), reason: boundedText(error, 300) });
  return r;
}
