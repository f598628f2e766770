/**
 * The control plane's GitHub service for agents, over NATS request/reply (queue group: any
 * replica answers): an agent holding a GitHub job's lease asks for its runner's JIT config, for
 * a runner's removal, or for a fresh look at the job on GitHub. GitHub credentials stay in the
 * control plane; agents never see more than one runner's JIT config.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { callService, serveRequests } from "../nats/request-reply.ts";
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { readLease } from "../jobs/lifecycle/lease.ts";
import { ACTIVE } from "../jobs/record.ts";
import type { JobStore } from "../jobs/store.ts";
import { getJobFacts, type JobFacts } from "./facts.ts";
import { mintRunner, removeRunner, type MintedRunner, type RunnerOpsDeps } from "./runners.ts";

export const SUBJECTS = { jit: "nimbus.github.jit", remove: "nimbus.github.remove", lookup: "nimbus.github.lookup" } as const;
const QUEUE = "nimbus-github";

export interface JitRequest {
  jobId: string;
  attempt: number;
  agentId: string;
}
export interface RemoveRequest {
  jobId: string;
  runnerName: string;
}
export interface LookupRequest {
  jobId: string;
}
export type { Reply } from "../nats/request-reply.ts";

export interface ServiceDeps extends RunnerOpsDeps {
  nc: NatsConnection;
  store: JobStore;
  leases: KV;
  /** Fetch the job from GitHub and record what it says as facts. */
  lookup: (jobId: string) => Promise<JobFacts | null>;
}

async function holdsLease(leases: KV, r: JitRequest): Promise<boolean> {
  const v = (await readLease(leases, r.jobId))?.value;
  return !!v && v.agentId === r.agentId && v.attempt === r.attempt;
}

/**
 * On a replicated bucket a read may come from a replica that has not applied the asker's latest write
 * yet (direct gets): a record or lease that does not show the asker is read again a few times first.
 */
const LAG_RETRIES = 12;
const LAG_RETRY_MS = 25;

async function jit(deps: ServiceDeps, r: JitRequest): Promise<MintedRunner> {
  for (let i = 0; ; i++) {
    const job = await deps.store.get(r.jobId);
    if (job && job.value.source !== "github") throw new AppError("not_found", `GitHub job ${r.jobId} not found`);
    const onAgent = !!job && job.value.attempt === r.attempt && ACTIVE.has(job.value.state);
    const held = onAgent && (await holdsLease(deps.leases, r));
    if (held) return mintRunner(deps, job!.value);
    if (i < LAG_RETRIES && (!job || job.value.attempt <= r.attempt)) {
      await Bun.sleep(LAG_RETRY_MS);
      continue;
    }
    if (!job) throw new AppError("not_found", `GitHub job ${r.jobId} not found`);
    if (!onAgent) throw new AppError("conflict", `job ${r.jobId} is not at attempt ${r.attempt} on an agent`);
    throw new AppError("forbidden", `agent ${r.agentId} does not hold the lease of ${r.jobId}`);
  }
}

async function remove(deps: ServiceDeps, r: RemoveRequest): Promise<string> {
  const job = await deps.store.get(r.jobId);
  if (!job) return "gone";
  return removeRunner(deps, job.value, r.runnerName);
}

export function startGithubService(deps: ServiceDeps): { stop(): void } {
  const warn = (m: string, f: Record<string, unknown>) => deps.log.warn(`GitHub ${m}`, f);
  const subs = [
    serveRequests<JitRequest, MintedRunner>(deps.nc, SUBJECTS.jit, QUEUE, (r) => jit(deps, r), warn),
    serveRequests<RemoveRequest, string>(deps.nc, SUBJECTS.remove, QUEUE, (r) => remove(deps, r), warn),
    serveRequests<LookupRequest, JobFacts | null>(deps.nc, SUBJECTS.lookup, QUEUE, async (r) => {
      const facts = await deps.lookup(r.jobId);
      return facts ?? (await getJobFacts(deps.github, Number(r.jobId.replace(/^gh-/, ""))));
    }, warn),
  ];
  return { stop: () => subs.forEach((s) => s.unsubscribe()) };
}

/** The agent's side: call the service; errors come back as AppErrors with their codes. */
export function callGithubService<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 30_000): Promise<T> {
  return callService<T>(nc, subject, body, timeoutMs, "GitHub service");
}
