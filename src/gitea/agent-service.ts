/**
 * The control plane's forge service for agents, over NATS request/reply: an agent holding a forge
 * job's lease asks for its runner (the control plane registers it and answers the `.runner` file)
 * and, at teardown, for its removal. Only the lease holder of that attempt is answered, and removal
 * touches only the runner named after (job, attempt): an agent cannot reach another job's runner.
 * The forge's API token and registration token never leave the control plane.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { readLease } from "../jobs/lifecycle/lease.ts";
import { ACTIVE, type JobRecord } from "../jobs/record.ts";
import { runnerName } from "../jobs/runner-names.ts";
import type { JobStore } from "../jobs/store.ts";
import { callService, serveRequests } from "../nats/request-reply.ts";
import type { ForgeConnection } from "./config.ts";
import { mintForgeRunner, removeForgeRunnerNamed, type MintedForgeRunner } from "./runners.ts";

export const FORGE_SUBJECTS = { runner: "nimbus.forge.runner", remove: "nimbus.forge.remove" } as const;
const QUEUE = "nimbus-forge";

export interface ForgeRunnerRequest {
  jobId: string;
  attempt: number;
  agentId: string;
}

export interface ForgeServiceDeps {
  nc: NatsConnection;
  store: JobStore;
  leases: KV;
  forges: ForgeConnection[];
  log: Logger;
  fetchFn?: typeof fetch;
}

/** The job, if `r` names its attempt and the caller holds that attempt's lease (`active`: and the job is on an agent). */
async function heldJob(deps: ForgeServiceDeps, r: ForgeRunnerRequest, active = true): Promise<{ job: JobRecord; forge: ForgeConnection }> {
  if (typeof r?.jobId !== "string" || !Number.isSafeInteger(r.attempt) || typeof r.agentId !== "string") throw new AppError("bad_request", "jobId, attempt and agentId are required");
  const cur = await deps.store.get(r.jobId);
  const job = cur?.value;
  if (!job?.forge) throw new AppError("not_found", `forge job ${r.jobId.slice(0, 100)} not found`);
  if (job.attempt !== r.attempt || (active && !ACTIVE.has(job.state))) throw new AppError("conflict", `job ${job.id} is not at attempt ${r.attempt} on an agent`);
  const lease = (await readLease(deps.leases, job.id))?.value;
  if (!lease || lease.agentId !== r.agentId || lease.attempt !== r.attempt) throw new AppError("forbidden", `agent ${r.agentId.slice(0, 100)} does not hold the lease of ${job.id}`);
  const forge = deps.forges.find((f) => f.id === job.forge!.forgeId);
  if (!forge) throw new AppError("not_found", `forge connection ${job.forge.forgeId} is no longer configured`);
  return { job, forge };
}

export function startForgeService(deps: ForgeServiceDeps): { stop(): void } {
  if (!deps.forges.length) return { stop() {} };
  const warn = (m: string, f: Record<string, unknown>) => deps.log.warn(`forge ${m}`, f);
  const subs = [
    serveRequests<ForgeRunnerRequest, MintedForgeRunner>(deps.nc, FORGE_SUBJECTS.runner, QUEUE, async (r) => {
      const { job, forge } = await heldJob(deps, r);
      return mintForgeRunner(forge, job, deps.fetchFn);
    }, warn),
    serveRequests<ForgeRunnerRequest, number>(deps.nc, FORGE_SUBJECTS.remove, QUEUE, async (r) => {
      // At teardown the job may have ended already; the lease (held until the sandbox/VM is gone) is the fence.
      const { job, forge } = await heldJob(deps, r, false);
      return removeForgeRunnerNamed(forge, runnerName(job.id, job.attempt), deps.fetchFn);
    }, warn),
  ];
  return { stop: () => subs.forEach((s) => s.unsubscribe()) };
}

/** The agent's side. */
export function callForgeService<T>(nc: NatsConnection, subject: string, body: ForgeRunnerRequest, timeoutMs = 30_000): Promise<T> {
  return callService<T>(nc, subject, body, timeoutMs, "forge service");
}
