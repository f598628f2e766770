/**
 * The forges' polling backstop: the leader lists each connection's waiting jobs and creates any
 * Nimbus job a lost webhook did not (through the same `createForgeJob`). A forge that fails
 * (5xx, unreachable) is backed off — interval × 2^failures, at most 32 intervals, with jitter — and
 * not called again before then; a success resets it. The backoff is per replica: a new leader
 * starts polling at once, which a forge in trouble sees as one call. Each successful poll also deletes
 * Nimbus's leftover runners (`sweepRunners`): what an agent that died could not.
 */
import { errorMessage, isAppError } from "../core/errors.ts";
import { hasBaseLabel } from "../jobs/labels.ts";
import { TERMINAL } from "../jobs/record.ts";
import { parseRunnerName } from "../jobs/runner-names.ts";
import type { ForgeConnection } from "./config.ts";
import { createForgeJob, type ForgeIntakeDeps } from "./intake.ts";
import type { ForgeMetrics } from "./metrics.ts";
import { ForgeRestClient, repoOf } from "./rest-client.ts";

const MAX_PAGES = 20;
const MAX_BACKOFF_FACTOR = 32;

export interface PollState {
  failures: number;
  nextAt: number;
  calls: number;
  created: number;
  /** Leftover Nimbus runners deleted (their job ended, is gone, or moved to a later attempt). */
  removed: number;
}

export class ForgePoll {
  readonly state = new Map<string, PollState>();

  constructor(
    private readonly forges: ForgeConnection[],
    private readonly deps: ForgeIntakeDeps & { metrics: ForgeMetrics; intervalMs: number; fetchFn?: typeof fetch; now?: () => number; rand?: () => number },
  ) {
    for (const f of forges) this.state.set(f.id, { failures: 0, nextAt: 0, calls: 0, created: 0, removed: 0 });
  }

  /** Poll every connection that is due; never throws. */
  async poll(): Promise<void> {
    await Promise.all(this.forges.map((f) => this.pollOne(f)));
  }

  /**
   * Runners Nimbus registered (named `nimbus-<job>-<attempt>`) that no agent will clean up: the job
   * ended or is gone, or its attempt is past (the agent that held it died). Others' runners are left alone.
   */
  private async sweepRunners(f: ForgeConnection, client: ForgeRestClient): Promise<number> {
    let runners;
    try {
      runners = await client.runners();
    } catch (e) {
      if (isAppError(e, "not_found")) return 0; // a forge without the runner listing
      throw e;
    }
    let n = 0;
    for (const r of runners) {
      const named = parseRunnerName(r.name);
      if (!named || !named.jobId.startsWith(`gt-${f.id}-`)) continue;
      const job = (await this.deps.store.get(named.jobId))?.value;
      if (job && !TERMINAL.has(job.state) && job.attempt <= named.attempt) continue;
      n += await client.deleteRunner(r.id).then(() => 1, (e) => (isAppError(e, "not_found") ? 0 : Promise.reject(e)));
    }
    return n;
  }

  private async pollOne(f: ForgeConnection): Promise<void> {
    const st = this.state.get(f.id)!;
    const now = (this.deps.now ?? Date.now)();
    if (now < st.nextAt) return void (st.failures && this.deps.metrics.poll(f, "backoff"));
    const client = new ForgeRestClient(f, this.deps.fetchFn);
    try {
      for (let page = 1; page <= MAX_PAGES; page++) {
        st.calls++;
        const { jobs, total } = await client.waitingJobs(page);
        for (const j of jobs) {
          if (!hasBaseLabel(j.labels, this.deps.labels)) continue;
          const c = await createForgeJob(this.deps, f, { id: j.id, runId: j.run_id, name: j.name, labels: j.labels, repo: repoOf(j) }, "poll");
          if (c.created) st.created++;
        }
        if (jobs.length === 0 || page * 50 >= total) break;
      }
      st.removed += await this.sweepRunners(f, client);
      st.failures = 0;
      st.nextAt = now + this.deps.intervalMs;
      this.deps.metrics.poll(f, "ok");
    } catch (e) {
      st.failures++;
      const factor = Math.min(2 ** st.failures, MAX_BACKOFF_FACTOR);
      st.nextAt = now + this.deps.intervalMs * factor * (0.5 + 0.5 * (this.deps.rand ?? Math.random)());
      this.deps.metrics.poll(f, "error");
      if (!isAppError(e, "unavailable")) this.deps.log.warn("forge poll failed", { forge: f.id, error: errorMessage(e) });
    }
  }
}
