/**
 * A GitHub job on an agent, after the claim, as a step program:
 *
 *   check → boot → assign → run → verdict            the runner took this job
 *                    └────→ detached → serving        GitHub gave the runner to another job:
 *                                                     record the pairing, re-queue this job for
 *                                                     another runner, keep the busy one to its end
 *                    └────→ requeue                   runner failed or was never assigned
 *                    └────→ elsewhere                 the job runs (or ran) on another runner
 *
 * The runner is named after (job, attempt); it is removed from GitHub before its sandbox/VM is
 * destroyed unless it is known to have finished, and never destroyed on GitHub's `busy` flag
 * alone (GitHub refuses to remove a busy runner: that refusal is the signal). A step that waits
 * naps; the job's alarm rings on the outcome (exit, cancel, lost lease) and on every watched fact.
 */
import type { Logger } from "../../src/core/log.ts";
import { done, hop, nap, runSteps, type Alarm, type StepResult } from "../../src/core/prog.ts";
import type { JobRecord, JobState, RunnerPairing, Versioned } from "../../src/jobs/record.ts";
import type { JobStore } from "../../src/jobs/store.ts";
import { retryOrFail } from "../../src/jobs/lifecycle/retry.ts";
import { getJobFacts, runnerName, type JobFacts } from "../../src/github/facts.ts";
import { verdictOf, verdictPatch } from "../../src/github/verdict.ts";
import { callGithubService, SUBJECTS } from "../../src/github/service.ts";
import type { Outcome } from "../outcome.ts";
import { JIT_ENV, nextAttemptAt, removeRunnerVia, requestRunner, runnerHeartbeat, runnerMounts, RunnerWatch, type GithubAgentDeps } from "./runner.ts";

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
  /** The runner serves another GitHub job: its VM loses this job's cache binding (agent/github/results-gateway.ts). */
  unbindResults(): void;
  exited(): Promise<{ exitCode: number }> | undefined;
  end(o: Outcome): void;
  /** The job's alarm: rung by `end`; the program rings it too when a watched fact changes. */
  alarm: Alarm;
  outcome(): Outcome | null;
  closeLog(exitCode: number | null, note?: string): Promise<void>;
}

type S = "check" | "boot" | "assign" | "run" | "verdict" | "elsewhere" | "detached" | "serving" | "requeue" | "stopped";
const DECLARED: Record<S, readonly S[]> = {
  check: ["boot", "verdict", "elsewhere"],
  boot: ["assign", "requeue"],
  assign: ["run", "verdict", "elsewhere", "detached", "requeue", "stopped"],
  run: ["verdict", "stopped"],
  verdict: [],
  elsewhere: [],
  detached: ["serving"],
  serving: [],
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
  /** The runner's exit code, once it exited. */
  private runnerExit: number | undefined;
  /** The ends of the naps: set when the step first runs. */
  private assignBy: number | undefined;
  private runUntil: number | undefined;
  private verdictBy: number | undefined;
  private servingUntil: number | undefined;
  /** GitHub refused to remove the runner: it has a job; wait for the assignment. */
  private keep = false;

  constructor(private readonly h: GithubRunHandle) {}

  private get g() {
    return this.h.job().value.github!;
  }

  /** Runs the program; "lost" when the lease was lost on the way (the caller abandons). */
  async execute(): Promise<"done" | "lost"> {
    const steps: Record<S, () => Promise<StepResult<S>>> = {
      check: () => this.check(), boot: () => this.boot(), assign: () => this.assign(), run: () => this.run(), verdict: () => this.verdict(),
      elsewhere: () => this.elsewhere(), detached: () => this.detached(), serving: () => this.serving(), requeue: () => this.requeue(), stopped: () => this.stopped(),
    };
    try {
      await runSteps<S>(steps, DECLARED, "check", { alarm: this.h.alarm });
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
      const err = await this.h.start({ secrets: { [JIT_ENV]: minted.encodedJitConfig }, network: true, mounts: runnerMounts(this.h.gh.config, job.requirements.isolation === "vm" && !!this.h.gh.bakedRunner) });
      if (err) return (this.failure = err), hop("requeue");
    } catch (e) {
      this.failure = `no runner config: ${(e as Error).message}`;
      return hop("requeue");
    }
    this.heartbeat = runnerHeartbeat(this.h.gh, this.name, job.id, job.attempt);
    this.watch = await RunnerWatch.open(this.h.gh.github, this.g.jobId, this.name, () => this.h.alarm.ring());
    this.h.exited()?.then((r) => {
      this.runnerExit = r.exitCode;
      this.h.end({ kind: "exit", exitCode: r.exitCode });
    });
    const runners: RunnerPairing[] = [...this.g.runners, { attempt: job.attempt, runnerName: this.name, runnerId: this.runnerId }];
    if (!(await this.h.fenced("runner_registered", { github: { ...this.g, runners } }))) return (this.lost = true), done();
    return hop("assign");
  }

  private pairing(tookJobId: number, outcome?: string): Partial<JobRecord> {
    const runners = this.g.runners.map((r) => (r.runnerName === this.name ? { ...r, tookJobId, outcome: outcome ?? r.outcome } : r));
    return { github: { ...this.g, runners } };
  }

  /** What GitHub's facts say the runner should do now (only an assignment counts while `keep`). */
  private assignEvent(w: RunnerWatch): "assigned" | "completed" | "elsewhere" | undefined {
    if (w.runner?.tookJobId !== undefined) return "assigned";
    if (this.keep) return undefined;
    if (w.job?.status === "completed") return "completed";
    if (w.job?.status === "in_progress" && w.job.runnerName && w.job.runnerName !== this.name) return "elsewhere";
    return undefined;
  }

  /** Nap until GitHub gives the runner a job; act on whatever happens first. */
  private async assign(): Promise<StepResult<S>> {
    const w = this.watch!;
    this.assignBy ??= Date.now() + this.h.gh.config.githubAssignDeadlineMs;
    const ev = this.assignEvent(w);
    if (ev === "assigned") {
      this.tookJobId = w.runner!.tookJobId!;
      if (this.tookJobId !== this.g.jobId) return hop("detached");
      if (!(await this.h.fenced("running", this.pairing(this.tookJobId)))) return (this.lost = true), done();
      return hop("run");
    }
    if (!ev && this.h.outcome()) return this.endedBeforeAssigned(this.h.outcome()!);
    if (!ev && this.keep) return nap(Infinity);
    if (!ev && this.assignBy > Date.now()) return nap(this.assignBy - Date.now());
    // Idle runner no longer needed (or never assigned): remove it from GitHub first.
    const removed = await removeRunnerVia(this.h.gh, this.h.job().value.id, this.name);
    if (removed === "busy") this.keep = true;
    if (removed === "busy" || removed === "unknown") return nap(0);
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

  /** The run ended (exit, error, cancel, lost lease) before GitHub assigned the runner. */
  private endedBeforeAssigned(o: Outcome): StepResult<S> {
    if (o.kind === "exit" && o.exitCode === 0) return (this.consumed = true), hop("verdict"); // it ran a job we were not told of yet
    if (o.kind === "exit" || o.kind === "error") {
      this.failure = o.kind === "exit" ? `runner exited with code ${o.exitCode} before taking a job` : o.message;
      return hop("requeue");
    }
    return hop("stopped");
  }

  /** The runner has this job: nap until it exits (or times out, is cancelled, loses the lease). */
  private async run(): Promise<StepResult<S>> {
    this.runUntil ??= Date.now() + this.h.job().value.timeoutSeconds * 1000;
    if (!this.h.outcome()) {
      if (this.runUntil > Date.now()) return nap(this.runUntil - Date.now());
      this.h.end({ kind: "timeout" });
    }
    if (this.h.outcome()!.kind === "exit") return (this.consumed = true), hop("verdict");
    return hop("stopped");
  }

  /** GitHub's verdict, waited for briefly; without it the job is handed to the reconciler (awaiting_github). */
  private async verdict(): Promise<StepResult<S>> {
    const o = this.h.outcome();
    const facts = this.watch?.job ?? (await getJobFacts(this.h.gh.github, this.g.jobId));
    if (facts?.status !== "completed" && this.watch) {
      this.verdictBy ??= Date.now() + this.h.gh.config.githubResultWaitMs;
      if (this.verdictBy > Date.now()) return nap(this.verdictBy - Date.now());
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
    // Its cache scope is this job's, not the other's (maybe another repository): the VM's calls go to GitHub from now on.
    this.h.unbindResults();
    const facts = this.watch!.job;
    const patch = { ...this.pairing(other), reason: `runner ${this.name} was given to GitHub job ${other}` };
    if (facts?.status === "completed") await this.h.fenced(verdictOf(facts.conclusion).state, { ...patch, ...verdictPatch({ ...this.h.job().value, ...patch }, facts) });
    else if (facts?.status === "in_progress" && facts.runnerName !== this.name) await this.h.fenced("awaiting_github", patch);
    else await this.requeueWith({ ...patch, reason: `${patch.reason}; starting another runner` }, false);
    await this.h.releaseLease();
    return hop("serving");
  }

  /** Only the runner's exit (or its time limit) ends this: a cancel of this job does not stop a runner serving another. */
  private async serving(): Promise<StepResult<S>> {
    this.servingUntil ??= Date.now() + this.h.job().value.timeoutSeconds * 1000;
    const note = `runner ${this.name} ran GitHub job ${this.tookJobId}`;
    if (this.runnerExit === undefined && this.h.exited()) {
      if (this.servingUntil > Date.now()) return nap(this.servingUntil - Date.now());
      await this.h.stop();
      await this.h.closeLog(null, note);
      return done();
    }
    this.consumed = true;
    await this.h.closeLog(this.runnerExit ?? 1, note);
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
    // Only failures spend the budget: a runner GitHub gave to another job is not this job's failure.
    const github = { ...g, runnerFailures: g.runnerFailures + (failed ? 1 : 0) };
    const notBefore = failed ? nextAttemptAt({ ...job, github }, this.h.gh.config.githubRetryBaseMs) : undefined;
    const budget = { failures: github.runnerFailures, max: g.failureBudget, what: "runner failures" };
    await retryOrFail(this.h.store, this.h.job(), { reason: patch.reason ?? "runner failed", failed, budget, patch: { ...patch, github }, notBefore }, (to, p) => this.writeRetry(to, p));
  }

  /** A failure is written under the lease; a re-queue first releases it (so the next agent can take it), then CASes unleased. */
  private async writeRetry(to: JobState, patch: Partial<JobRecord>): Promise<Versioned<JobRecord> | "stale"> {
    if (to === "queued") {
      await this.h.releaseLease();
      return (await this.h.casUnleased(to, patch)) ? this.h.job() : "stale";
    }
    if (await this.h.fenced(to, patch)) return this.h.job();
    this.lost = true;
    return "stale";
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
