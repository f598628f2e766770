/**
 * The GitHub reconciler: a singleton worker (leader key in NATS KV, src/nats/leadership.ts),
 * never the request path. Every interval its leader runs the tick (src/github/tick.ts: verdicts,
 * deadlines, re-drives) and, less often, the poll (src/github/poll.ts: GitHub's listings).
 */
import { errorMessage } from "../core/errors.ts";
import { Leadership } from "../nats/leadership.ts";
import { GithubPoll } from "./poll.ts";
import type { ReconcilerDeps, ReconcilerTotals } from "./reconcile-deps.ts";
import { JobChecks } from "./tick.ts";

export { lookupJob } from "./lookup.ts";
export type { ReconcilerDeps } from "./reconcile-deps.ts";
export type { TickCounts } from "./tick.ts";

export class Reconciler {
  private lastPoll = 0;
  private running: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly leadership: Leadership;
  readonly totals: ReconcilerTotals = { verdicts: 0, stuck: 0, redriven: 0, created: 0, redelivered: 0, runnersRemoved: 0 };
  readonly checks: JobChecks;
  readonly polls: GithubPoll;

  constructor(private readonly d: ReconcilerDeps) {
    this.leadership = new Leadership(d.leaders, "github-reconciler", d.replicaId);
    this.checks = new JobChecks(d, this.totals);
    this.polls = new GithubPoll(d, this.totals);
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.tick().catch((e) => this.d.log.warn("reconcile failed", { error: errorMessage(e) })));
    }, this.d.config.githubReconcileIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.leadership.release();
  }

  isLeader(): Promise<boolean> {
    return this.leadership.isLeader();
  }

  async tick(): Promise<void> {
    if (!(await this.isLeader())) return;
    await this.checks.checkJobs();
    await this.d.jobLogs?.sync().catch((e) => this.d.log.warn("GitHub job logs not synced", { error: errorMessage(e) }));
    if (Date.now() - this.lastPoll >= this.d.config.githubPollIntervalMs) {
      this.lastPoll = Date.now();
      await this.polls.poll();
    }
  }
}
