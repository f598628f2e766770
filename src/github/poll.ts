/**
 * The reconciler's poll (the slow loop, leader only): calls GitHub's listing APIs to create queued
 * jobs no webhook announced, record news webhooks failed to bring, ask GitHub to redeliver failed
 * deliveries, and remove offline runners bearing Nimbus's prefix that no live job holds.
 */
import { errorMessage } from "../core/errors.ts";
import { hasBaseLabel } from "../jobs/labels.ts";
import { ACTIVE } from "../jobs/record.ts";
import { unlessCasLost } from "../nats/errors.ts";
import type { GhJob } from "./client.ts";
import { ghJobKey, listInstallations, parseRunnerName, RANK, RUNNER_PREFIX, type GhStatus } from "./facts.ts";
import { createGithubJob, recordObservation } from "./intake.ts";
import type { ReconcilerDeps, ReconcilerTotals } from "./reconcile-deps.ts";
import { scopeOf } from "./runners.ts";
import { keyOf } from "../nats/keys.ts";

export class GithubPoll {
  /** Start of the previous poll, and the runs it saw active per repository (to catch the ones that finish in between). */
  private prevPollAt = 0;
  private readonly activeRuns = new Map<string, number[]>();

  constructor(
    private readonly d: ReconcilerDeps,
    private readonly totals: ReconcilerTotals,
  ) {}

  /** One poll: each listing on its own (one failing does not stop the others). */
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
            if (await this.pollJob(inst, repo, gh)) created++;
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
  private async pollJob(inst: { id: number; account: string }, repo: { name: string; owner: { login: string; type?: string } }, gh: GhJob): Promise<boolean> {
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
      // The account the App is installed on (as a delivery noted it): the job's organisation.
      installation: { id: inst.id, account: { login: inst.account } },
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
      const key = keyOf("redelivered", x.guid);
      if ((await unlessCasLost(this.d.github.create(key, new TextEncoder().encode(String(Date.now()))))) === null) continue; // asked once already
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
