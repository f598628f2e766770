/**
 * The GitHub reconciler: a singleton worker (leader key in NATS KV), never the request path.
 * Each tick it applies GitHub's verdicts to records no agent holds, marks jobs whose step overran
 * its deadline `stuck` (with the reason) and re-drives them from what GitHub says now. Each poll
 * it creates queued jobs no webhook announced, asks GitHub to redeliver failed deliveries, and
 * removes offline runners bearing Nimbus's prefix that no live job holds.
 */
import type { KV } from "@nats-io/kv";
import type { JetStreamManager } from "@nats-io/jetstream";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { JobIndex } from "../jobs/job-index.ts";
import type { LabelOptions } from "../jobs/labels.ts";
import { hasBaseLabel } from "../jobs/labels.ts";
import { ACTIVE, TERMINAL, type JobRecord, type JobState, type Versioned } from "../jobs/record.ts";
import { isStale, type JobStore } from "../jobs/store.ts";
import { poolConsumerName, QUEUE_STREAM } from "../nats/topology.ts";
import { isWrongLastSequence } from "../nats/errors.ts";
import type { GhJob, GithubClient } from "./client.ts";
import type { GithubConfig } from "./config.ts";
import { getJobFacts, ghJobKey, listInstallations, parseRunnerName, RANK, RUNNER_PREFIX, type GhStatus, type JobFacts } from "./facts.ts";
import type { FactsIndex } from "./facts-index.ts";
import { createGithubJob, recordObservation } from "./intake.ts";
import type { GithubMetrics } from "./metrics.ts";
import type { OrgRateLimiter } from "./ratelimit.ts";
import { scopeOf } from "./runners.ts";
import { applyVerdict } from "./verdict.ts";

export interface ReconcilerDeps {
  store: JobStore;
  index: JobIndex;
  facts: FactsIndex;
  github: KV;
  leases: KV;
  leaders: KV;
  jsm: JetStreamManager;
  client: GithubClient;
  config: GithubConfig;
  labels: LabelOptions;
  limiter: OrgRateLimiter;
  metrics: GithubMetrics;
  log: Logger;
  replicaId: string;
}

export interface TickCounts {
  verdicts: number;
  stuck: number;
  redriven: number;
}

/** Ask GitHub about the job now and record the answer as facts. */
export async function lookupJob(deps: Pick<ReconcilerDeps, "store" | "client" | "github" | "config" | "labels" | "log" | "metrics" | "limiter">, jobId: string): Promise<JobFacts | null> {
  const job = await deps.store.get(jobId);
  const g = job?.value.github;
  if (!g) return null;
  const gh = await deps.client.getJob(g.installationId, g.owner, g.repo, g.jobId);
  if (!gh) return null;
  await recordObservation(deps, {
    action: gh.status,
    workflow_job: gh,
    repository: { name: g.repo, full_name: `${g.owner}/${g.repo}`, owner: { login: g.owner } },
    installation: { id: g.installationId },
    organization: g.org ? { login: g.org } : null,
  });
  return getJobFacts(deps.github, g.jobId);
}

export class Reconciler {
  private leaderRev = 0;
  private lastPoll = 0;
  private running: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly observed = new Set<string>();
  /** Start of the previous poll, and the runs it saw active per repository (to catch the ones that finish in between). */
  private prevPollAt = 0;
  private readonly activeRuns = new Map<string, number[]>();
  readonly totals = { verdicts: 0, stuck: 0, redriven: 0, created: 0, redelivered: 0, runnersRemoved: 0 };

  constructor(private readonly d: ReconcilerDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.tick().catch((e) => this.d.log.warn("reconcile failed", { error: errorMessage(e) })));
    }, this.d.config.githubReconcileIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.leaderRev) await this.d.leaders.delete("github-reconciler", { previousSeq: this.leaderRev }).catch(() => {});
  }

  /** Leader election: create the key, then keep it by CAS; the bucket's max age frees it when we die. */
  async isLeader(): Promise<boolean> {
    const value = new TextEncoder().encode(this.d.replicaId);
    try {
      this.leaderRev = this.leaderRev ? await this.d.leaders.update("github-reconciler", value, this.leaderRev) : await this.d.leaders.create("github-reconciler", value);
      return true;
    } catch (e) {
      if (!isWrongLastSequence(e)) throw e;
      this.leaderRev = 0;
      return false;
    }
  }

  async tick(): Promise<void> {
    if (!(await this.isLeader())) return;
    await this.checkJobs();
    if (Date.now() - this.lastPoll >= this.d.config.githubPollIntervalMs) {
      this.lastPoll = Date.now();
      await this.poll();
    }
  }

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
    if (ACTIVE.has(cur.value.state)) {
      const lease = await this.d.leases.get(jobId);
      if (lease?.operation === "PUT") await this.d.leases.delete(jobId, { previousSeq: lease.revision }).catch(() => {});
    }
    try {
      await this.d.store.transition(cur, "stuck", { reason: `stuck: ${why}` });
    } catch (e) {
      if (isStale(e)) return false;
      throw e;
    }
    this.d.metrics.stuck.inc({ reason: cur.value.state });
    this.d.log.warn("job stuck", { jobId, reason: why });
    return true;
  }

  /** Re-drive a stuck job from what GitHub says now. */
  private async redrive(jobId: string, counts: TickCounts): Promise<void> {
    const facts = await lookupJob(this.d, jobId);
    const cur = await this.d.store.get(jobId);
    if (!cur || cur.value.state !== "stuck") return;
    let to: JobState;
    let patch: Partial<JobRecord> = {};
    if (facts?.status === "completed") {
      if (await applyVerdict(this.d.store, cur, facts)) counts.verdicts++;
      return;
    } else if (!facts) [to, patch] = ["cancelled", { reason: "GitHub no longer has this job" }];
    else if (facts.status === "in_progress") [to, patch] = ["awaiting_github", { reason: `re-driven: GitHub says it runs on ${facts.runnerName}` }];
    else if (cur.value.attempt >= cur.value.maxAttempts) [to, patch] = ["failed", { reason: `${cur.value.reason}; ${cur.value.maxAttempts} attempts used` }];
    else [to, patch] = ["queued", { attempt: cur.value.attempt + 1, agentId: undefined, reason: "re-driven: GitHub still has it queued; starting a new runner" }];
    const next = await this.tryTransition(cur, to, patch);
    if (!next) return;
    counts.redriven++;
    if (to === "queued") await this.d.store.enqueue(next.value);
  }

  private async tryTransition(cur: Versioned<JobRecord>, to: JobState, patch: Partial<JobRecord>): Promise<Versioned<JobRecord> | null> {
    try {
      return await this.d.store.transition(cur, to, patch);
    } catch (e) {
      if (isStale(e)) return null;
      throw e;
    }
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

  /** The slow loop: calls GitHub's listing APIs. */
  async poll(): Promise<void> {
    for (const [what, fn] of [
      ["jobs", () => this.pollJobs()],
      ["failed deliveries", () => this.redeliverFailed()],
      ["offline runners", () => this.removeOfflineRunners()],
    ] as const) {
      try {
        await fn();
      } catch (e) {
        this.d.log.warn(`poll of ${what} failed`, { error: errorMessage(e) });
      }
    }
  }

  /**
   * Jobs no webhook told us about, and news webhooks failed to bring: queued jobs we do not know
   * are created; jobs in progress or completed that we do not know (or know less about) are
   * recorded as facts (a job never seen is created `awaiting_github`, then gets its verdict).
   */
  async pollJobs(): Promise<number> {
    let created = 0;
    const now = Date.now();
    const interval = this.d.config.githubPollIntervalMs;
    // Runs created since the previous poll (with one interval of margin for clock skew and listing lag).
    const since = this.prevPollAt ? this.prevPollAt - interval : now - 10 * interval;
    for (const inst of await listInstallations(this.d.github)) {
      for (const repo of await this.d.client.installationRepos(inst.id)) {
        const key = `${inst.id}/${repo.owner.login}/${repo.name}`;
        const { jobs, activeRuns } = await this.d.client.pollJobs(inst.id, repo.owner.login, repo.name, since, this.activeRuns.get(key));
        this.activeRuns.set(key, activeRuns);
        for (const gh of jobs) {
          if (!hasBaseLabel(gh.labels, this.d.labels)) continue;
          try {
            if (await this.pollJob(inst.id, repo, gh)) created++;
          } catch (e) {
            this.d.log.warn("poll of job failed", { ghJobId: gh.id, error: errorMessage(e) });
          }
        }
      }
    }
    this.prevPollAt = now;
    this.totals.created += created;
    return created;
  }

  /** One job from GitHub's listing; true when it created a Nimbus job. */
  private async pollJob(installationId: number, repo: { name: string; owner: { login: string; type?: string } }, gh: GhJob): Promise<boolean> {
    const id = ghJobKey(gh.id);
    const known = !!this.d.index.get(id) || !!(await this.d.store.get(id));
    const facts = this.d.facts.jobs.get(gh.id);
    const status = gh.status as GhStatus;
    if (status !== "queued" && status !== "in_progress" && status !== "completed") return false;
    if (known && (status === "queued" || (facts && RANK[facts.status] >= RANK[status]))) return false;
    const payload = {
      action: status,
      workflow_job: gh,
      repository: { name: repo.name, full_name: `${repo.owner.login}/${repo.name}`, owner: repo.owner },
      organization: repo.owner.type === "Organization" ? { login: repo.owner.login } : null,
      installation: { id: installationId },
    };
    if (status !== "queued") {
      await recordObservation(this.d, payload, "poll");
      if (known) return false;
      this.d.log.info("job seen on GitHub with no webhook", { jobId: id, status, runnerName: gh.runner_name });
      return !!(await this.d.store.get(id));
    }
    const r = await createGithubJob(this.d, payload, "poll");
    if (r.created) this.d.log.info("job created from GitHub's queue (no webhook seen)", { jobId: r.jobId });
    return r.created;
  }

  /** Redeliver failed deliveries of workflow_job that never succeeded since. */
  async redeliverFailed(): Promise<number> {
    const deliveries = await this.d.client.deliveries();
    const ok = new Set(deliveries.filter((x) => x.status_code >= 200 && x.status_code < 300).map((x) => x.guid));
    let n = 0;
    for (const x of deliveries) {
      if (ok.has(x.guid) || x.event !== "workflow_job" || (x.status_code >= 200 && x.status_code < 300)) continue;
      const key = `redelivered.${x.guid}`;
      try {
        await this.d.github.create(key, new TextEncoder().encode(String(Date.now())));
      } catch (e) {
        if (isWrongLastSequence(e)) continue; // asked once already
        throw e;
      }
      await this.d.client.redeliver(x.id);
      this.d.metrics.redeliveries.inc();
      n++;
    }
    this.totals.redelivered += n;
    return n;
  }

  /** Offline `nimbus-` runners that no live job holds are removed (GitHub refuses busy ones). */
  async removeOfflineRunners(): Promise<number> {
    let n = 0;
    const scopes = new Map<string, ReturnType<typeof scopeOf>>();
    for (const j of this.d.index.all()) if (j.github) scopes.set(JSON.stringify(scopeOf(this.d.config, j.github)), scopeOf(this.d.config, j.github));
    for (const scope of scopes.values()) {
      for (const r of await this.d.client.listRunners(scope)) {
        if (!r.name.startsWith(RUNNER_PREFIX) || r.status !== "offline") continue;
        const owner = parseRunnerName(r.name);
        const job = owner ? this.d.index.get(owner.jobId) : undefined;
        const facts = this.d.facts.runners.get(r.name);
        const booting = job && ACTIVE.has(job.state) && job.attempt === owner!.attempt;
        const alive = facts && !facts.exitedAt && Date.now() - (facts.aliveAt ?? facts.createdAt) < this.d.config.githubAssignDeadlineMs;
        if (booting || alive) continue;
        const result = await this.d.client.removeRunner(scope, r.id);
        if (result === "removed") {
          n++;
          this.d.metrics.runnersRemoved.inc({ why: "offline" });
        }
      }
    }
    this.totals.runnersRemoved += n;
    return n;
  }
}
