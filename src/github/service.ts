/**
 * The control plane's GitHub service for agents, over NATS request/reply (queue group: any
 * replica answers): an agent holding a GitHub job's lease asks for its runner's JIT config, for
 * a runner's removal, or for a fresh look at the job on GitHub. GitHub credentials stay in the
 * control plane; agents never see more than one runner's JIT config.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";
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
export type Reply<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string; retryAfterMs?: number };

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
  const enc = new TextEncoder();
  const serve = <Req, Res>(subject: string, fn: (req: Req) => Promise<Res>) =>
    deps.nc.subscribe(subject, {
      queue: QUEUE,
      callback: (err, msg: Msg) => {
        if (err) return;
        void (async () => {
          let reply: Reply<Res>;
          try {
            reply = { ok: true, value: await fn(msg.json<Req>()) };
          } catch (e) {
            const code: ErrorCode = e instanceof AppError ? e.code : "unavailable";
            reply = { ok: false, code, message: errorMessage(e), retryAfterMs: e instanceof AppError ? (e.details?.retryAfterMs as number | undefined) : undefined };
            if (code !== "conflict" && code !== "not_found" && code !== "stale_revision" && code !== "lease_lost") deps.log.warn("GitHub service call failed", { subject, error: reply.message });
          }
          msg.respond(enc.encode(JSON.stringify(reply)));
        })();
      },
    });
  const subs = [
    serve<JitRequest, MintedRunner>(SUBJECTS.jit, (r) => jit(deps, r)),
    serve<RemoveRequest, string>(SUBJECTS.remove, (r) => remove(deps, r)),
    serve<LookupRequest, JobFacts | null>(SUBJECTS.lookup, async (r) => {
      const facts = await deps.lookup(r.jobId);
      return facts ?? (await getJobFacts(deps.github, Number(r.jobId.replace(/^gh-/, ""))));
    }),
  ];
  return { stop: () => subs.forEach((s) => s.unsubscribe()) };
}

/** The agent's side: call the service; errors come back as AppErrors with their codes. */
export async function callGithubService<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 30_000): Promise<T> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  } catch (e) {
    throw new AppError("unavailable", `GitHub service (${subject}) did not answer: ${errorMessage(e)}`);
  }
  const reply = msg.json<Reply<T>>();
  if (reply.ok) return reply.value;
  throw new AppError(reply.code, reply.message, reply.retryAfterMs ? { retryAfterMs: reply.retryAfterMs } : undefined);
}
