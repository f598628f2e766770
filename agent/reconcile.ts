/**
 * On start, make the machine agree with SQLite: every job this agent was running before it died
 * is stopped and destroyed; its lease, if still ours, is released and the job re-queued at once
 * (instead of after the TTL); anything bearing the `nimbus-` prefix that SQLite does not know is
 * destroyed. Spooled log lines stay and are resent by the shipper.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../src/core/log.ts";
import { breakLeaseIf } from "../src/jobs/lifecycle/lease.ts";
import { retryOrFail } from "../src/jobs/lifecycle/retry.ts";
import { ACTIVE } from "../src/jobs/record.ts";
import type { JobStore } from "../src/jobs/store.ts";
import type { Driver } from "./drivers/types.ts";
import type { AgentStore } from "./store.ts";

export interface ReconcileDeps {
  agentId: string;
  /** Per-job directories: nothing runs yet, so whatever is here is left over. */
  workRoot: string;
  local: AgentStore;
  drivers: Driver[];
  jobs: JobStore;
  leases: KV;
  log: Logger;
}

async function releaseOwnLease(deps: ReconcileDeps, jobId: string, attempt: number): Promise<void> {
  const ours = await breakLeaseIf(deps.leases, jobId, (l) => l.value.agentId === deps.agentId && l.value.attempt === attempt);
  if (!ours) return;
  const job = await deps.jobs.get(jobId);
  if (job && ACTIVE.has(job.value.state) && job.value.attempt === attempt) {
    const outcome = await retryOrFail(deps.jobs, job, { reason: `agent ${deps.agentId} restarted` });
    deps.log.info("job from before restart re-driven", { jobId, outcome });
  }
}

export async function reconcile(deps: ReconcileDeps): Promise<{ released: number; orphans: number }> {
  const known = new Set<string>();
  let released = 0;
  for (const run of deps.local.runs()) {
    const driver = run.instance && deps.drivers.find((d) => d.name === run.instance!.driver);
    if (run.instance && driver) {
      known.add(run.instance.name);
      await driver.destroy(run.instance);
    }
    await releaseOwnLease(deps, run.jobId, run.attempt);
    deps.local.deleteRun(run.jobId, run.attempt);
    released++;
  }
  let orphans = 0;
  for (const driver of deps.drivers) {
    for (const inst of await driver.list()) {
      await driver.destroy(inst);
      if (!known.has(inst.name)) orphans++;
    }
  }
  for (const entry of existsSync(deps.workRoot) ? readdirSync(deps.workRoot) : []) rmSync(join(deps.workRoot, entry), { recursive: true, force: true });
  if (released || orphans) deps.log.info("reconciled after restart", { released, orphans });
  return { released, orphans };
}
