/**
 * A GitHub job on an agent, after the claim, as a step program:
 *
 *   check → boot → assign → run → verdict            the runner took this job
 *                    └────→ detached                  GitHub gave the runner to another job:
 *                                                     record the pairing, re-queue this job for
 *                                                     another runner, keep the busy one to its end
 *                    └────→ requeue                   runner failed or was never assigned
 *                    └────→ elsewhere                 the job runs (or ran) on another runner
 *
 * The runner is named after (job, attempt); it is removed from GitHub before its sandbox/VM is
 * destroyed unless it is known to have finished, and never destroyed on GitHub's `busy` flag
 * alone (GitHub refuses to remove a busy runner: that refusal is the signal).
 */
import type { Logger } from "../core/log.ts";
import { done, hop, runSteps, type StepResult } from "../core/prog.ts";
import type { JobRecord, JobState, RunnerPairing, Versioned } from "../jobs/record.ts";
import type { JobStore } from "../jobs/store.ts";
import { getJobFacts, runnerName, type JobFacts } from "./facts.ts";
import { JIT_ENV, nextAttemptAt, removeRunnerVia, requestRunner, runnerHeartbeat, runnerMounts, RunnerWatch, type GithubAgentDeps } from "./agent-runner.ts";
import { verdictOf, verdictPatch } from "./verdict.ts";
import { callGithubService, SUBJECTS } from "./service.ts";

export type RunOutcome = { kind: "exit"; exitCode: number } | { kind: "timeout" } | { kind: "cancel" } | { kind: "lost" } | { kind: "error"; message: string };

/** What agent/job-run.ts lends the GitHub program. */
export interface GithubRunHandle {
  log: Logger;
  agentId: string;
  store: JobStore;
  gh: GithubAgentDeps;
  job(): Versioned<JobRecord>;
  /** Renew the lease, then CAS the record; false when the lease is lost. */
  fenced(to: JobState, patch?: Partial<JobRecord>): Promise<boolean>;
  /** CAS the record without a lease (after `releaseLease`); false when someone else moved it. */
  casUnleased(to: JobState, patch?: Partial<JobRecord>): Promise<boolean>;
  releaseLease(): Promise<void>;
  /** Prepare and start the sandbox/VM; an error message when the driver failed. */
  start(extra: { secrets: Record<string, string>; network: boolean; mounts: { source: string; target: string }[] }): Promise<string | null>;
  stop(): Promise<void>;
  exited(): Promise<{ exitCode: number }> | undefined;
  end(o: RunOutcome): void;
  settled: Promise<RunOutcome>;
  outcome(): RunOutcome | null;
  closeLog(exitCode: number | null, note?: string): Promise<void>;
}

type S = "check" | "boot" | "assign" | "run" | "verdict" | "elsewhere" | "detached" | "requeue" | "stopped";
const DECLARED: Record<S, readonly S[]> = {
  check: ["boot", "verdict", "elsewhere"],
  boot: ["assign", "requeue"],
  assign: ["run", "verdict", "elsewhere", "detached", "requeue", "stopped"],
  run: ["verdict", "stopped"],
  verdict: [],
  elsewhere: [],
  detached: [],
  requeue: [],
  stopped: [],
};

export class GithubRun {
  private name = "";
  private runnerId: number | undefined;
  private watch: RunnerWatch | null = null;
  private heartbeat: { stop(): Promise<void> } | null = null;
  private failure = "";
  private elsewhereOn = "";
  private tookJobId: number | undefined;
  private lost = false;
  private consumed = false;

  constructor(private readonly h: GithubRunHandle) {}

  private get g() {
    return this.h.job().value.github!;
  }

  /** Runs the program; "lost" when the lease was lost on the way (the caller abandons). */
  async execute(): Promise<"done" | "lost"> {
    const steps: Record<S, () => Promise<StepResult<S>>> = {
      check: () => this.check(), boot: () => this.boot(), assign: () => this.assign(), run: () => this.run(), verdict: () => this.verdict(),
      elsewhere: () => this.elsewhere(), detached: () => this.detached(), requeue: () => this.requeue(), stopped: () => this.stopped(),
    };
    try {
      await runSteps<S>(steps, DECLARED, "check");
    } finally {
      this.watch?.stop();
      await this.heartbeat?.stop();
      if (this.name && !this.consumed) await removeRunnerVia(this.h.gh, this.h.job().value.id, this.name).catch(() => "unknown");
    }
    return this.lost ? "lost" : "done";
  }

  private fence = async (to: JobState, patch: Partial<JobRecord> = {}): Promise<StepResult<S>> => {
    if (!(await this.h.fenced(to, patch))) this.lost = true;
    return done();
  };

  private async check(): Promise<StepResult<S>> {
    const facts = await getJobFacts(this.h.gh.github, this.g.jobId);
    if (facts?.status === "completed") return hop("verdict");
    if (facts?.status === "in_progress" && facts.runnerName !== runnerName(this.h.job().value.id, this.h.job().value.attempt)) {
      this.elsewhereOn = facts.runnerName ?? "another runner";
      return hop("elsewhere");
    }
    return hop("boot");
  }

  private async boot(): Promise<StepResult<S>> {
    if (!(await this.h.fenced("booting"))) return (this.lost = true), done();
    const job = this.h.job().value;
    try {
      const minted = await requestRunner(this.h.gh, { jobId: job.id, attempt: job.attempt, agentId: this.h.agentId }, this.h.gh.config.githubAssignDeadlineMs, this.h.log);
      this.name = minted.runnerName;
      this.runnerId = minted.runnerId;
      const err = await this.h.start({ secrets: { [JIT_ENV]: minted.encodedJitConfig }, network: true, mounts: runnerMounts(this.h.gh.config) });
      if (err) return (this.failure = err), hop("requeue");
    } catch (e) {
      this.failure = `no runner config: ${(e as Error).message}`;
      return hop("requeue");
    }
    this.heartbeat = runnerHeartbeat(this.h.gh, this.name, job.id, job.attempt);
    this.watch = await RunnerWatch.open(this.h.gh.github, this.g.jobId, this.name);
    this.h.exited()?.then((r) => this.h.end({ kind: "exit", exitCode: r.exitCode }));
    const runners: RunnerPairing[] = [...this.g.runners, { attempt: job.attempt, runnerName: this.name, runnerId: this.runnerId }];
    if (!(await this.h.fenced("runner_registered", { github: { ...this.g, runners } }))) return (this.lost = true), done();
    return hop("assign");
  }

  private pairing(tookJobId: number, outcome?: string): Partial<JobRecord> {
    const runners = this.g.runners.map((r) => (r.runnerName === this.name ? { ...r, tookJobId, outcome: outcome ?? r.outcome } : r));
    return { github: { ...this.g, runners } };
  }

  /** Wait for GitHub to give the runner a job; act on whatever happens first. */
  private async assign(): Promise<StepResult<S>> {
    const w = this.watch!;
    const deadline = Date.now() + this.h.gh.config.githubAssignDeadlineMs;
    let keep = false; // GitHub refused removal: the runner has a job, wait for it
    for (;;) {
      const ev = await w.until<"assigned" | "completed" | "elsewhere">(() => {
        if (w.runner?.tookJobId !== undefined) return "assigned";
        if (keep) return undefined;
        if (w.job?.status === "completed") return "completed";
        if (w.job?.status === "in_progress" && w.job.runnerName && w.job.runnerName !== this.name) return "elsewhere";
        return undefined;
      }, keep ? 2 ** 31 - 1 : deadline - Date.now(), this.h.settled);
      if (ev === "assigned") {
        this.tookJobId = w.runner!.tookJobId!;
        if (this.tookJobId !== this.g.jobId) return hop("detached");
        if (!(await this.h.fenced("running", this.pairing(this.tookJobId)))) return (this.lost = true), done();
        return hop("run");
      }
      if (ev === "aborted") {
        const o = this.h.outcome()!;
        if (o.kind === "exit" && o.exitCode === 0) return (this.consumed = true), hop("verdict"); // it ran a job we were not told of yet
        if (o.kind === "exit" || o.kind === "error") {
          this.failure = o.kind === "exit" ? `runner exited with code ${o.exitCode} before taking a job` : o.message;
          return hop("requeue");
        }
        return hop("stopped");
      }
      // Idle runner no longer needed (or never assigned): remove it from GitHub first.
      const removed = await removeRunnerVia(this.h.gh, this.h.job().value.id, this.name);
      if (removed === "busy") {
        keep = true;
        continue;
      }
      if (removed === "unknown") continue;
      this.consumed = true;
      await this.h.stop();
      if (ev === "completed") return hop("verdict");
      if (ev === "elsewhere") return (this.elsewhereOn = w.job!.runnerName!), hop("elsewhere");
      // Never assigned: ask GitHub before calling it a failure (its in_progress webhook may be lost).
      const now = await callGithubService<JobFacts | null>(this.h.gh.nc, SUBJECTS.lookup, { jobId: this.h.job().value.id }).catch(() => null);
      if (now?.status === "completed") return hop("verdict");
      if (now?.status === "in_progress" && now.runnerName !== this.name) return (this.elsewhereOn = now.runnerName ?? "another runner"), hop("elsewhere");
      this.failure = `runner not assigned within ${this.h.gh.config.githubAssignDeadlineMs / 1000}s`;
      return hop("requeue");
    }
  }

  /** The runner has this job: wait for it to exit (or time out, be cancelled, lose the lease). */
  private async run(): Promise<StepResult<S>> {
    const timer = setTimeout(() => this.h.end({ kind: "timeout" }), this.h.job().value.timeoutSeconds * 1000);
    const o = await this.h.settled;
    clearTimeout(timer);
    if (o.kind === "exit") return (this.consumed = true), hop("verdict");
    return hop("stopped");
  }

  /** GitHub's verdict, waited for briefly; without it the job is handed to the reconciler (awaiting_github). */
  private async verdict(): Promise<StepResult<S>> {
    const o = this.h.outcome();
    let facts: JobFacts | null | undefined = this.watch?.job ?? (await getJobFacts(this.h.gh.github, this.g.jobId));
    if (facts?.status !== "completed" && this.watch) {
      const r = await this.watch.until(() => (this.watch!.job?.status === "completed" ? this.watch!.job : undefined), this.h.gh.config.githubResultWaitMs, new Promise(() => {}));
      facts = typeof r === "string" ? facts : r;
    }
    await this.h.closeLog(o?.kind === "exit" ? o.exitCode : null);
    if (facts?.status === "completed") return this.fence(verdictOf(facts.conclusion).state, verdictPatch(this.h.job().value, facts));
    return this.fence("awaiting_github", { reason: "runner finished; waiting for GitHub's verdict" });
  }

  private async elsewhere(): Promise<StepResult<S>> {
    await this.h.closeLog(null, `GitHub gave this job to runner ${this.elsewhereOn}`);
    return this.fence("awaiting_github", { reason: `GitHub gave this job to runner ${this.elsewhereOn}` });
  }

  /** Our runner serves another job: record it, put this job back for a new runner, keep the runner to its end. */
  private async detached(): Promise<StepResult<S>> {
    const other = this.tookJobId!;
    this.h.log.info("runner given to another job; starting another runner for this one", { runnerName: this.name, tookJobId: other });
    const facts = this.watch!.job;
    const patch = { ...this.pairing(other), reason: `runner ${this.name} was given to GitHub job ${other}` };
    if (facts?.status === "completed") await this.h.fenced(verdictOf(facts.conclusion).state, { ...patch, ...verdictPatch({ ...this.h.job().value, ...patch }, facts) });
    else if (facts?.status === "in_progress" && facts.runnerName !== this.name) await this.h.fenced("awaiting_github", patch);
    else await this.requeueWith({ ...patch, reason: `${patch.reason}; starting another runner` }, false);
    await this.h.releaseLease();
    // Only the runner's exit (or its time limit) ends this: a cancel of this job does not stop a runner serving another.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), this.h.job().value.timeoutSeconds * 1000)));
    const r = await Promise.race([this.h.exited() ?? Promise.resolve({ exitCode: 1 }), limit]);
    clearTimeout(timer);
    if (r === "timeout") await this.h.stop();
    else this.consumed = true;
    await this.h.closeLog(r === "timeout" ? null : r.exitCode, `runner ${this.name} ran GitHub job ${other}`);
    return done();
  }

  private async requeue(): Promise<StepResult<S>> {
    this.h.log.warn("runner failed", { reason: this.failure });
    await this.h.closeLog(null, this.failure);
    await this.requeueWith({ reason: this.failure }, true);
    return done();
  }

  /** Next attempt with a new runner (after a stored backoff when it failed), or failed once the budget is spent. */
  private async requeueWith(patch: Partial<JobRecord>, failed: boolean): Promise<void> {
    const job = this.h.job().value;
    const g = { ...job.github!, ...(patch.github ?? {}) };
    const failures = g.runnerFailures + (failed ? 1 : 0);
    // Only failures spend the budget: a runner GitHub gave to another job is not this job's failure.
    if (failures > g.failureBudget || (failed && job.attempt >= job.maxAttempts)) {
      const why = failures > g.failureBudget ? `${failures} runner failures (budget ${g.failureBudget})` : `${job.maxAttempts} attempts used`;
      await this.fence("failed", { ...patch, github: { ...g, runnerFailures: failures }, reason: `${patch.reason}; ${why}` });
      return;
    }
    const notBefore = failed ? nextAttemptAt({ ...job, github: { ...g, runnerFailures: failures } }, this.h.gh.config.githubRetryBaseMs) : undefined;
    await this.h.releaseLease();
    if (await this.h.casUnleased("queued", { ...patch, github: { ...g, runnerFailures: failures }, attempt: job.attempt + 1, agentId: undefined, notBefore })) {
      await this.h.store.enqueue(this.h.job().value);
    }
  }

  /** Ended from outside: cancel, timeout or a lost lease. */
  private async stopped(): Promise<StepResult<S>> {
    const o = this.h.outcome()!;
    await this.h.stop();
    if (o.kind === "lost") return (this.lost = true), done();
    await this.h.closeLog(null, o.kind === "timeout" ? "timed out" : "cancelled");
    return this.fence(o.kind === "timeout" ? "timed_out" : "cancelled", { reason: o.kind === "timeout" ? `exceeded its timeout of ${this.h.job().value.timeoutSeconds}s` : "cancelled" });
  }
}
