/**
 * The reconciler's tick (every few seconds, leader only, no GitHub listing): applies GitHub's
 * verdicts to records no agent holds, marks jobs whose step overran its deadline `stuck` (with
 * the reason) and re-drives them from what GitHub says now; records the latency histograms.
 */
import { errorMessage } from "../core/errors.ts";
import { breakLeaseIf } from "../jobs/lifecycle/lease.ts";
import { retryOrFail } from "../jobs/lifecycle/retry.ts";
import { tryTransition } from "../jobs/lifecycle/transition.ts";
import { ACTIVE, TERMINAL, type JobRecord } from "../jobs/record.ts";
import { poolConsumerName, QUEUE_STREAM } from "../nats/topology.ts";
import { parseRunnerName, type JobFacts } from "./facts.ts";
import { lookupJob } from "./lookup.ts";
import type { ReconcilerDeps, ReconcilerTotals } from "./reconcile-deps.ts";
import { applyVerdict } from "./verdict.ts";

export interface TickCounts {
  verdicts: number;
  stuck: number;
  redriven: number;
}

export class JobChecks {
  private readonly observed = new Set<string>();

  constructor(
    private readonly d: ReconcilerDeps,
    private readonly totals: ReconcilerTotals,
  ) {}

  /** Verdicts, deadlines and re-drives for every GitHub job not yet finished. */
  async checkJobs(): Promise<TickCounts> {
    const counts: TickCounts = { verdicts: 0, stuck: 0, redriven: 0 };
    const lost = await this.lostMessages();
    const now = Date.now();
    for (const job of [...this.d.index.all()]) {
      if (job.source !== "github" || !job.github) continue;
      this.observe(job);
      // Most jobs need nothing: decide that without an await, so a tick over many jobs does not hold up the webhooks.
      if (TERMINAL.has(job.state) || !this.mayNeedWork(job, lost, now)) continue;
      try {
        await this.checkJob(job, lost, counts);
      } catch (e) {
        this.d.log.warn("reconcile of job failed", { jobId: job.id, error: errorMessage(e) });
      }
    }
    this.totals.verdicts += counts.verdicts;
    this.totals.stuck += counts.stuck;
    this.totals.redriven += counts.redriven;
    return counts;
  }

  /** A cheap over-approximation of `checkJob`'s conditions (false: it would do nothing). */
  private mayNeedWork(job: JobRecord, lost: Map<string, number>, now: number): boolean {
    const c = this.d.config;
    const age = now - job.updatedAt;
    switch (job.state) {
      case "stuck":
      case "awaiting_github":
        return true;
      case "queued":
        return this.d.facts.jobs.get(job.github!.jobId)?.status === "completed" || (age > c.githubQueueDeadlineMs && (lost.get(job.pool) ?? 0) > 0);
      case "leased":
      case "booting":
        return age > c.githubBootDeadlineMs;
      default:
        return false;
    }
  }

  private async checkJob(job: JobRecord, lost: Map<string, number>, counts: TickCounts): Promise<void> {
    const now = Date.now();
    const c = this.d.config;
    const facts = this.d.facts.jobs.get(job.github!.jobId) ?? null;
    if (!ACTIVE.has(job.state) && facts?.status === "completed") {
      const cur = await this.d.store.get(job.id);
      if (cur && (await applyVerdict(this.d.store, cur, facts))) counts.verdicts++;
      return;
    }
    const age = now - job.updatedAt;
    let why: string | null = null;
    if (job.state === "stuck") return void (await this.redrive(job.id, counts));
    if (job.state === "queued" && age > c.githubQueueDeadlineMs && (job.notBefore ?? 0) < now && (lost.get(job.pool) ?? 0) > 0) {
      lost.set(job.pool, lost.get(job.pool)! - 1);
      why = `queued for ${Math.round(age / 1000)}s with no queue message left (deadline ${c.githubQueueDeadlineMs / 1000}s)`;
    } else if ((job.state === "leased" || job.state === "booting") && age > c.githubBootDeadlineMs) {
      why = `${job.state} for ${Math.round(age / 1000)}s (deadline ${c.githubBootDeadlineMs / 1000}s)`;
    } else if (job.state === "awaiting_github") {
      why = this.awaitingOverdue(job, facts, now);
    }
    if (!why) return;
    if (await this.markStuck(job.id, why)) {
      counts.stuck++;
      await this.redrive(job.id, counts);
    }
  }

  /** Waiting for GitHub's verdict is overdue unless a live runner has the job (then the job's own timeout bounds it). */
  private awaitingOverdue(job: JobRecord, facts: JobFacts | null, now: number): string | null {
    const c = this.d.config;
    let since = job.updatedAt;
    if (facts?.status === "in_progress") {
      const r = facts.runnerName ? this.d.facts.runners.get(facts.runnerName) : undefined;
      const liveWindow = 3 * c.githubRunnerHeartbeatMs;
      if (!parseRunnerName(facts.runnerName) || (r && !r.exitedAt && now - (r.aliveAt ?? r.createdAt) < liveWindow)) {
        if (now - (facts.inProgressAt ?? job.updatedAt) < job.timeoutSeconds * 1000) return null;
        return `in progress on ${facts.runnerName} past the job's timeout`;
      }
      since = Math.max(since, r?.exitedAt ?? r?.aliveAt ?? 0);
    }
    if (now - since <= c.githubResultDeadlineMs) return null;
    return `no verdict from GitHub ${Math.round((now - since) / 1000)}s after its runner was gone (deadline ${c.githubResultDeadlineMs / 1000}s)`;
  }

  /** Break the lease (if any) and move the record to `stuck`: one CAS, one visible event. */
  private async markStuck(jobId: string, why: string): Promise<boolean> {
    const cur = await this.d.store.get(jobId);
    if (!cur || TERMINAL.has(cur.value.state) || cur.value.state === "stuck") return false;
    if (ACTIVE.has(cur.value.state)) await breakLeaseIf(this.d.leases, jobId).catch(() => null);
    if ((await tryTransition(this.d.store, cur, "stuck", { reason: `stuck: ${why}` })) === "stale") return false;
    this.d.metrics.stuck.inc({ reason: cur.value.state });
    this.d.log.warn("job stuck", { jobId, reason: why });
    return true;
  }

  /** Re-drive a stuck job from what GitHub says now. */
  private async redrive(jobId: string, counts: TickCounts): Promise<void> {
    const facts = await lookupJob(this.d, jobId);
    const cur = await this.d.store.get(jobId);
    if (!cur || cur.value.state !== "stuck") return;
    if (facts?.status === "completed") {
      if (await applyVerdict(this.d.store, cur, facts)) counts.verdicts++;
      return;
    }
    let moved: boolean;
    if (!facts) moved = (await tryTransition(this.d.store, cur, "cancelled", { reason: "GitHub no longer has this job" })) !== "stale";
    else if (facts.status === "in_progress") moved = (await tryTransition(this.d.store, cur, "awaiting_github", { reason: `re-driven: GitHub says it runs on ${facts.runnerName}` })) !== "stale";
    else {
      const requeueReason = "re-driven: GitHub still has it queued; starting a new runner";
      moved = (await retryOrFail(this.d.store, cur, { reason: cur.value.reason ?? "stuck", requeueReason })) !== "stale";
    }
    if (moved) counts.redriven++;
  }

  /** Per pool: queued jobs minus queue messages (waiting or in flight) = jobs whose message was lost. */
  private async lostMessages(): Promise<Map<string, number>> {
    const queued = new Map<string, number>();
    for (const j of this.d.index.all()) if (j.state === "queued") queued.set(j.pool, (queued.get(j.pool) ?? 0) + 1);
    const lost = new Map<string, number>();
    for (const [pool, n] of queued) {
      let messages = 0;
      try {
        const info = await this.d.jsm.consumers.info(QUEUE_STREAM, poolConsumerName(pool));
        messages = info.num_pending + info.num_ack_pending;
      } catch {
        continue; // no agent serves the pool yet: its jobs are waiting, not lost
      }
      if (n > messages) lost.set(pool, n - messages);
    }
    return lost;
  }

  /**
   * Latency histograms, observed once per job by the leader. The assignment is when the record went
   * running, or else when GitHub said in_progress: a fast runner can finish before its agent sees the
   * assignment, and the record then never passes through running (as in latencyBreakdown).
   */
  private observe(job: JobRecord): void {
    const t = job.times;
    const assigned = t.running ?? (job.github ? this.d.facts.jobs.get(job.github.jobId)?.inProgressAt : undefined);
    if (assigned && job.github?.createdAt && !this.observed.has(`q:${job.id}`)) {
      this.observed.add(`q:${job.id}`);
      this.d.metrics.queueSeconds.observe(Math.max(0, assigned - job.github.createdAt) / 1000);
    }
    if (t.runner_registered && t.leased && t.runner_registered >= t.leased && !this.observed.has(`s:${job.id}:${job.attempt}`)) {
      this.observed.add(`s:${job.id}:${job.attempt}`);
      this.d.metrics.startupSeconds.observe((t.runner_registered - t.leased) / 1000);
    }
  }
}
