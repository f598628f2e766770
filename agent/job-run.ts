/**
 * One job on this agent, as a step program:
 *   claim → boot → run → finish → cleanup, with `abandon` when the lease is lost.
 * Every write for the job is fenced (src/jobs/lifecycle/transition.ts `fencedWrite`): renew the
 * lease (CAS on its revision), then CAS the job record. A lost CAS means the lease is gone: kill
 * the job, stop touching it. Waiting is a nap: `end` rings the program's alarm.
 */
import { rmSync } from "node:fs";
import type { KV } from "@nats-io/kv";
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../src/core/log.ts";
import { Alarm, done, hop, nap, runSteps, type StepResult } from "../src/core/prog.ts";
import { Lease, isLeaseLost } from "../src/jobs/lifecycle/lease.ts";
import { fencedWrite, tryTransition } from "../src/jobs/lifecycle/transition.ts";
import { acquireSlot, releaseSlot } from "../src/jobs/lifecycle/slots.ts";
import { orgOf } from "../src/jobs/org.ts";
import type { JobStore } from "../src/jobs/store.ts";
import { cancelRequested } from "../src/jobs/cancel.ts";
import type { JobRecord, JobState, Versioned } from "../src/jobs/record.ts";
import type { Handout } from "../src/jobs/handout.ts";
import { errorMessage, isAppError } from "../src/core/errors.ts";
import type { Driver, Execution, Instance, RunSpec } from "./drivers/types.ts";
import { LineCapture } from "./logs/capture.ts";
import type { LogShipper } from "./logs/shipper.ts";
import type { AgentStore } from "./store.ts";
import { GithubRun, type GithubRunHandle } from "./github/steps.ts";
import type { GithubAgentDeps } from "./github/runner.ts";
import { forgeRunnerMounts, removeForgeRunnerVia, requestForgeRunner, RUNNER_FILE_ENV, withRunnerFile, type ForgeAgentDeps } from "./forge.ts";
import type { Outcome } from "./outcome.ts";
import { dockerMirror, jobRegistryAuth, type JobRegistryAuth } from "./registry-auth.ts";
import { guestAddress } from "./vm/run.ts";
import type { AgentResultsGateway } from "./github/results-gateway.ts";
import { reserveSpanId, type Tracing } from "../src/core/trace/tracer.ts";
import { childTraceparent, parseTraceparent } from "../src/core/trace/traceparent.ts";
import { attemptSpanId, attemptSpans } from "../src/jobs/trace/spans.ts";

export interface JobRunDeps {
  agentId: string;
  jobs: JobStore;
  leases: KV;
  signals: KV;
  driver: Driver;
  local: AgentStore;
  shipper: LogShipper;
  leaseTtlMs: number;
  workRoot: string;
  /** The Actions cache environment for a job's runtime token, when jobs of this driver can reach the cache. */
  cacheEnvFor?: (token: string) => Record<string, string>;
  /** HOST:PORT of the registry as jobs with a network reach it (their gateway); absent: jobs get no registry login. */
  registryHost?: string;
  /** This driver's instances always have a network (microVMs on the agent's bridge); otherwise only those started with one (GitHub runners). */
  networkByDefault?: boolean;
  log: Logger;
  /** Present when the agent serves GitHub jobs (their runner comes from a JIT config). */
  github?: GithubAgentDeps;
  /** Present when the agent serves Gitea/Forgejo jobs (their runner comes from the control plane). */
  forge?: ForgeAgentDeps;
  /** Ask the control plane for a job's secrets as the holder of its lease (src/jobs/handout.ts). */
  handout?: (req: { jobId: string; attempt: number; leaseRevision: number }, traceparent?: string) => Promise<Handout>;
  /** Exports this attempt's spans into the job's trace (src/jobs/trace/spans.ts `attemptSpans`). */
  tracing?: Tracing;
  /** The agent's results-host gateway, for this driver's instances (microVMs): GitHub jobs' VMs are bound to it. */
  resultsGateway?: Pick<AgentResultsGateway, "guest" | "env" | "bindings">;
  /** Per-org running-job slots (src/jobs/lifecycle/slots.ts): a job over its org's limit waits in the queue. */
  orgSlots?: { kv: KV; limitOf: (org: string) => number; retryMs: number };
}

type Step = "claim" | "boot" | "github" | "run" | "finish" | "abandon" | "cleanup";
const DECLARED: Record<Step, readonly Step[]> = {
  claim: ["boot", "github", "cleanup"],
  github: ["cleanup", "abandon"],
  boot: ["run", "finish", "abandon"],
  run: ["finish", "abandon"],
  finish: ["cleanup", "abandon"],
  abandon: ["cleanup"],
  cleanup: [],
};

/** Unanswered handouts retried before the job fails (about a minute with the backoff). */
const HANDOUT_TRIES = 40;

export class JobRun {
  private job!: Versioned<JobRecord>;
  private lease: Lease | null = null;
  /** The org whose running-job slot this attempt holds (null: none held). */
  private slotOrg: string | null = null;
  private instance: Instance | null = null;
  /** A forge runner was registered for this attempt: it is deleted at teardown. */
  private forgeRunnerHeld = false;
  /** The VM address bound to this job's cache token at the results gateway (unbound at cleanup). */
  private resultsBound: { ip: string; owner: string } | null = null;
  private execution: Execution | null = null;
  private capture: LineCapture | null = null;
  private outcome: Outcome | null = null;
  /** The job's secrets, in memory only, from claim until the job ends on this agent. */
  private secrets: Handout = { secrets: {} };
  /** Why the secrets could not be had (the job then fails at boot instead of running without them). */
  private handoutError: string | null = null;
  /** Rung when the outcome is set: a napping step wakes and looks. */
  private readonly alarm = new Alarm();
  /** When the `run` step times the job out (set when it first runs). */
  private runUntil: number | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** This attempt's part of the job's trace: when the message was taken, the span ids fixed in advance
   * (the handout names the attempt span as its parent; the job gets the run span in TRACEPARENT). */
  private readonly traced = { takenAt: Date.now(), attemptSpanId: undefined as string | undefined, runSpanId: reserveSpanId(), startedAt: undefined as number | undefined };
  /** The spans of this attempt already sent (each step's as it ends: a killed agent loses only the steps it was in). */
  private readonly traceSent = new Set<string>();
  readonly log: Logger;

  constructor(
    private readonly deps: JobRunDeps,
    readonly jobId: string,
    readonly attempt: number,
    private readonly msg?: JsMsg,
    /** The job's traceparent from the queue message's headers (the record's wins when they disagree). */
    private traceparent?: string,
  ) {
    this.log = deps.log.child({ jobId, attempt });
  }

  /** Request an end from outside (cancel signal, agent shutdown past its deadline). */
  end(o: Outcome): void {
    this.outcome ??= o;
    this.alarm.ring();
  }

  async execute(): Promise<Step[]> {
    const steps = { claim: () => this.claim(), boot: () => this.boot(), github: () => this.github(), run: () => this.run(), finish: () => this.finish(), abandon: () => this.abandon(), cleanup: () => this.cleanup() };
    try {
      return await runSteps<Step>(steps, DECLARED, "claim", { alarm: this.alarm });
    } catch (e) {
      // A step failed (NATS failing over, say): stop the job and let go of it. Left alone, the heartbeat
      // would renew the lease for ever and no one would ever re-queue the job.
      if (this.lease || this.instance) {
        if (this.instance) await this.deps.driver.stop(this.instance).catch(() => {});
        this.capture?.close(null);
        await this.cleanup().catch((c) => this.log.warn("cleanup after a failed step failed", { error: c }));
      }
      throw e;
    }
  }

  /** Take the lease and move the job queued → leased; anything else means the message is stale. */
  private async claim(): Promise<StepResult<Step>> {
    // The record and the cancel signal in one round trip: a cancel asked for after this read still
    // reaches the run (the agent's watch of the signals ends it; a queued job is cancelled by CAS, so the claim's CAS loses).
    const [cur, cancelled] = await Promise.all([this.deps.jobs.get(this.jobId), cancelRequested(this.deps.signals, this.jobId)]);
    if (!cur || cur.value.state !== "queued" || cur.value.attempt !== this.attempt) return this.drop("job is not waiting for this attempt");
    const wait = (cur.value.notBefore ?? 0) - Date.now();
    if (wait > 0 && this.msg) {
      this.msg.nak(wait); // stored retry backoff: come back later
      return done();
    }
    if (cancelled) {
      await tryTransition(this.deps.jobs, cur, "cancelled", { reason: "cancelled before start" }).catch(() => {});
      return this.drop("cancelled before start");
    }
    if (!(await this.takeSlot(cur.value))) {
      this.msg?.nak(this.deps.orgSlots!.retryMs); // the org runs all it may: wait in the queue
      return done();
    }
    this.lease = await Lease.acquire(this.deps.leases, { jobId: this.jobId, agentId: this.deps.agentId, attempt: this.attempt, ttlMs: this.deps.leaseTtlMs });
    if (!this.lease) {
      await this.giveSlot();
      return this.drop("another agent holds the lease");
    }
    const leased = await tryTransition(this.deps.jobs, cur, "leased", { agentId: this.deps.agentId, reason: undefined });
    if (leased === "stale") {
      await this.lease.release().catch(() => {});
      this.lease = null;
      await this.giveSlot();
      return this.drop("job changed while leasing");
    }
    this.job = leased;
    // The record is the truth: a message whose header names another trace (or none) follows the record's.
    const recorded = leased.value.trace?.traceparent;
    if (recorded && parseTraceparent(this.traceparent)?.traceId !== parseTraceparent(recorded)?.traceId) this.traceparent = recorded;
    const tc = parseTraceparent(this.traceparent);
    if (tc) this.traced.attemptSpanId = attemptSpanId(tc.traceId, this.attempt);
    this.msg?.ack();
    this.traceAttempt();
    this.deps.local.putRun({ jobId: this.jobId, attempt: this.attempt, leaseRevision: this.lease.revision, instance: null, startedAt: Date.now() });
    await this.fetchSecrets(); // before the heartbeat: the lease revision it names is still the one held
    this.startHeartbeat();
    return this.job.value.source === "github" && this.deps.github ? hop("github") : hop("boot");
  }

  /** Take one of the job's org's running slots (always true when the org has no limit). */
  private async takeSlot(job: JobRecord): Promise<boolean> {
    const s = this.deps.orgSlots;
    const org = orgOf(job);
    const limit = s?.limitOf(org) ?? 0;
    if (!s || limit <= 0) return true;
    if (!(await acquireSlot(s.kv, org, this.jobId, this.attempt, limit))) return false;
    this.slotOrg = org;
    return true;
  }

  /** Give the slot back (only this attempt's: a later attempt's slot is left alone). */
  private async giveSlot(): Promise<void> {
    const org = this.slotOrg;
    if (!org || !this.deps.orgSlots) return;
    this.slotOrg = null;
    // Not given back (NATS down): the lease sweeper prunes it once this attempt's lease is gone.
    await releaseSlot(this.deps.orgSlots.kv, org, this.jobId, this.attempt).catch((e) => this.log.warn("slot release failed", { error: e }));
  }


  /**
   * The job's sealed secrets and this attempt's log credential, handed out by the control plane to
   * the holder of this lease. The credential goes into SQLite beside the spool, so lines spooled
   * before an agent restart still ship; without one the log service takes none of this attempt's
   * lines, so a job that cannot have it fails at boot rather than run unheard.
   */
  private async fetchSecrets(): Promise<void> {
    if (!this.deps.handout) {
      this.handoutError = "this agent cannot fetch job secrets or log credentials";
      return;
    }
    try {
      // The control plane may be restarting: agents keep working through NATS meanwhile, so an
      // unanswered handout is retried (renewing the lease, whose new revision the next ask names).
      for (let i = 0; ; i++) {
        try {
          this.secrets = await this.deps.handout({ jobId: this.jobId, attempt: this.attempt, leaseRevision: this.lease!.revision }, this.traced.attemptSpanId && this.childTrace(this.traced.attemptSpanId));
          break;
        } catch (e) {
          if (!isAppError(e, "unavailable") || i >= HANDOUT_TRIES) throw e;
          await Bun.sleep(Math.min(2000, 100 * 2 ** i) * (0.5 + Math.random()));
          await this.lease!.renew();
        }
      }
      if (!this.secrets.logCredential) throw new Error("the control plane handed out no log credential");
      this.deps.local.putLogCredential(this.jobId, this.attempt, this.secrets.logCredential);
    } catch (e) {
      this.handoutError = `the job's secrets and log credential were not handed out: ${errorMessage(e)}`;
    }
  }

  /** A GitHub job: its own step program (agent/github/steps.ts) runs the JIT runner. */
  private async github(): Promise<StepResult<Step>> {
    return (await new GithubRun(this.githubHandle()).execute()) === "lost" ? hop("abandon") : hop("cleanup");
  }

  private githubHandle(): GithubRunHandle {
    return {
      log: this.log,
      agentId: this.deps.agentId,
      store: this.deps.jobs,
      gh: this.deps.github!,
      job: () => this.job,
      fenced: (to, patch) => this.fenced(to, patch),
      casUnleased: async (to, patch) => {
        const next = await tryTransition(this.deps.jobs, this.job, to, patch);
        if (next === "stale") return false;
        this.job = next;
        return true;
      },
      releaseLease: async () => {
        clearInterval(this.heartbeat);
        await this.lease?.release().catch(() => {});
        this.lease = null;
      },
      start: (extra) => this.startInstance({ ...extra, results: true }),
      stop: async () => {
        if (this.instance) await this.deps.driver.stop(this.instance);
      },
      unbindResults: () => this.unbindResults(),
      exited: () => this.execution?.exited,
      end: (o) => this.end(o),
      alarm: this.alarm,
      outcome: () => this.outcome,
      closeLog: async (exitCode, note) => {
        if (!this.capture) return;
        if (note) this.capture.system(`nimbus: ${note}`);
        this.capture.close(exitCode);
        this.capture = null;
        await this.deps.shipper.drained(this.jobId, this.attempt, 5000);
      },
    };
  }

  private drop(why: string): StepResult<Step> {
    this.log.debug("queue message dropped", { why });
    this.msg?.ack();
    return done();
  }

  /** The job's trace with `spanId` as the parent, sampled or not as the job's trace is; undefined without one. */
  private childTrace(spanId: string): string | undefined {
    const c = parseTraceparent(this.traceparent);
    return c ? childTraceparent(c, spanId) : undefined;
  }

  private spec(): RunSpec {
    const j = this.job.value;
    // The job's own telemetry joins its trace under the run span (a TRACEPARENT the job sets itself wins).
    const tp = this.childTrace(this.traced.runSpanId);
    const env = { ...(tp ? { TRACEPARENT: tp } : {}), ...j.env, ...this.secrets.secrets };
    return { jobId: j.id, attempt: j.attempt, command: j.command, env, dir: `${this.deps.workRoot}/${j.id}-${j.attempt}`, requirements: j.requirements };
  }

  private async boot(): Promise<StepResult<Step>> {
    if (!(await this.fenced("booting"))) return hop("abandon");
    if (this.handoutError) {
      this.end({ kind: "error", message: this.handoutError });
      return hop("finish");
    }
    const cacheToken = this.job.value.cache && this.secrets.cacheToken;
    const { ACTIONS_RUNTIME_TOKEN: token, ...cacheEnv } = cacheToken && this.deps.cacheEnvFor ? this.deps.cacheEnvFor(cacheToken) : {};
    const forge = await this.forgeRunner();
    if (typeof forge === "string") {
      this.end({ kind: "error", message: forge });
      return hop("finish");
    }
    const err = await this.startInstance(forge ?? {
      secrets: token ? { ACTIONS_RUNTIME_TOKEN: token } : {},
      env: cacheEnv,
      network: false,
      mounts: [],
    });
    if (err) {
      this.end({ kind: "error", message: err });
      return hop("finish");
    }
    if (!(await this.fenced("running"))) return hop("abandon");
    this.traceAttempt();
    return hop("run");
  }

  /**
   * A Gitea/Forgejo job: its runner from the control plane, as the start of its instance (the
   * `.runner` file as a secret its command writes before it execs the runner, a network to reach the
   * forge); null for other jobs; the reason when no runner could be had.
   */
  private async forgeRunner(): Promise<Parameters<JobRun["startInstance"]>[0] | string | null> {
    const d = this.deps.forge;
    if (!this.job.value.forge || !d) return null;
    try {
      const m = await requestForgeRunner(d, { jobId: this.jobId, attempt: this.attempt, agentId: this.deps.agentId }, 60_000, this.log);
      this.forgeRunnerHeld = true;
      this.log.info("forge runner registered", { runnerName: m.runnerName, runnerId: m.runnerId });
      return { secrets: { [RUNNER_FILE_ENV]: m.file }, network: true, mounts: forgeRunnerMounts(d), command: withRunnerFile(this.job.value.command) };
    } catch (e) {
      return `no runner could be registered on the forge: ${errorMessage(e)}`;
    }
  }

  /** The job's registry login (a Docker config.json), only where the job can reach the registry: its instance has a network. */
  private registryAuth(network: boolean): JobRegistryAuth | undefined {
    const host = this.deps.registryHost;
    const credential = this.secrets.registryCredential;
    return host && credential && (network || this.deps.networkByDefault) ? jobRegistryAuth(host, credential) : undefined;
  }

  /** Prepare and start the instance, output into the log capture; the error text when the driver failed. */
  private async startInstance(extra: { secrets: Record<string, string>; env?: Record<string, string>; network: boolean; mounts: { source: string; target: string }[]; results?: boolean; command?: string[] }): Promise<string | null> {
    const spec = this.spec();
    if (extra.command) spec.command = extra.command;
    const registry = this.registryAuth(extra.network);
    if (registry) spec.command = registry.wrap(spec.command);
    // A GitHub job's VM: GitHub's results host names at the gateway, its CA trusted.
    const results = extra.results ? this.deps.resultsGateway : undefined;
    if (results) spec.guest = results.guest;
    // A docker job's daemon pulls Docker Hub images through the registry's pull-through mirror.
    const mirror = dockerMirror(this.deps.registryHost, spec.requirements.docker, extra.network || !!this.deps.networkByDefault);
    if (mirror) spec.guest = { ...spec.guest, registryMirror: mirror };
    spec.env = { ...extra.env, ...results?.env, ...registry?.env, ...spec.env, ...extra.secrets, ...registry?.secrets };
    if (extra.network) spec.network = true;
    if (extra.mounts.length) spec.mounts = extra.mounts;
    const secrets = [...Object.values(this.secrets.secrets), ...Object.values(extra.secrets), ...Object.values(registry?.secrets ?? {}), ...(registry?.mask ?? [])];
    this.capture = new LineCapture(this.deps.local, this.jobId, this.attempt, secrets, () => this.deps.shipper.poke());
    try {
      this.instance = await this.deps.driver.prepare(spec);
      if (results) this.bindResults(results, this.instance);
      this.deps.local.putRun({ jobId: this.jobId, attempt: this.attempt, leaseRevision: this.lease!.revision, instance: this.instance, startedAt: Date.now() });
      this.execution = await this.deps.driver.start(this.instance, spec, (s, c) => this.capture?.write(s, c));
      this.traced.startedAt = Date.now();
    } catch (e) {
      return `driver ${this.deps.driver.name} failed to start the job: ${(e as Error).message}`;
    }
    this.deps.local.putRun({ jobId: this.jobId, attempt: this.attempt, leaseRevision: this.lease!.revision, instance: this.instance, startedAt: Date.now() });
    return null;
  }

  /**
   * Bind the VM's address to the job's cache token before the VM runs (a warm VM: as it is taken).
   * No token (the job has no cache scope, or the handout minted none): no binding, and the
   * gateway sends the VM's calls to GitHub.
   */
  private bindResults(results: NonNullable<JobRunDeps["resultsGateway"]>, inst: Instance): void {
    const ip = guestAddress(inst);
    const token = this.secrets.cacheToken;
    if (!ip || !token) {
      this.log.info("results gateway: VM not bound (its cache calls go to GitHub)", { why: !ip ? "the VM has no address" : "the job has no cache token" });
      return;
    }
    results.bindings.bind(ip, token, inst.name);
    this.resultsBound = { ip, owner: inst.name };
    this.log.debug("results gateway: VM bound", { ip, repo: this.job.value.cache?.repo, ref: this.job.value.cache?.ref });
  }

  private unbindResults(): void {
    if (this.resultsBound) this.deps.resultsGateway?.bindings.unbind(this.resultsBound.ip, this.resultsBound.owner);
    this.resultsBound = null;
  }

  /** Nap until the first of: exit, timeout, cancel, lost lease. */
  private async run(): Promise<StepResult<Step>> {
    if (this.runUntil === undefined) {
      this.runUntil = Date.now() + this.job.value.timeoutSeconds * 1000;
      this.execution!.exited.then((r) => this.end({ kind: "exit", exitCode: r.exitCode }));
    }
    if (!this.outcome) {
      const left = this.runUntil - Date.now();
      if (left > 0) return nap(left);
      this.end({ kind: "timeout" });
    }
    const outcome = this.outcome!;
    if (outcome.kind !== "exit") await this.deps.driver.stop(this.instance!);
    return outcome.kind === "lost" ? hop("abandon") : hop("finish");
  }

  private async finish(): Promise<StepResult<Step>> {
    const o = this.outcome!;
    const [state, exitCode, reason]: [JobState, number, string | undefined] =
      o.kind === "exit" ? [o.exitCode === 0 ? "succeeded" : "failed", o.exitCode, undefined]
      : o.kind === "timeout" ? ["timed_out", 124, `exceeded its timeout of ${this.job.value.timeoutSeconds}s`]
      : o.kind === "cancel" ? ["cancelled", 130, "cancelled"]
      : ["failed", 1, o.kind === "error" ? o.message : "job failed"];
    if (reason) this.capture?.system(`nimbus: ${reason}`);
    this.capture?.close(exitCode);
    await this.deps.shipper.drained(this.jobId, this.attempt, 5000);
    if (!(await this.fenced(state, { exitCode, reason }))) return hop("abandon");
    return hop("cleanup");
  }

  private async abandon(): Promise<StepResult<Step>> {
    this.log.warn("lease lost: job killed, record left to its new owner");
    this.lease = null;
    if (this.instance) await this.deps.driver.stop(this.instance);
    this.capture?.close(null);
    return hop("cleanup");
  }

  private async cleanup(): Promise<StepResult<Step>> {
    const teardownStart = Date.now();
    clearInterval(this.heartbeat);
    this.secrets = { secrets: {} }; // the job ended here: its secrets go with it
    this.capture = null;
    // Before the VM (and its address lease) goes: the address may be leased to another VM next.
    this.unbindResults();
    if (this.instance) await this.deps.driver.destroy(this.instance).catch((e) => this.log.warn("destroy failed", { error: e }));
    // While the lease is still held (the service's fence): the forge's runner of this attempt goes.
    if (this.forgeRunnerHeld && this.deps.forge) await removeForgeRunnerVia(this.deps.forge, { jobId: this.jobId, attempt: this.attempt, agentId: this.deps.agentId }, this.log);
    rmSync(`${this.deps.workRoot}/${this.jobId}-${this.attempt}`, { recursive: true, force: true });
    if (this.lease) await this.lease.release().catch((e) => (isLeaseLost(e) ? undefined : this.log.warn("lease release failed", { error: e })));
    await this.giveSlot();
    this.deps.local.deleteRun(this.jobId, this.attempt);
    this.traceAttempt(teardownStart);
    return done();
  }

  /** This attempt's spans not sent yet: the steps it has finished, and all the rest once it is torn down (only an attempt that took the lease has any). */
  private traceAttempt(teardownStart?: number): void {
    if (!this.deps.tracing?.enabled || !this.job || !this.traceparent) return;
    const local = { agentId: this.deps.agentId, ...this.traced, teardownStart, teardownEnd: teardownStart === undefined ? undefined : Date.now() };
    const spans = attemptSpans(this.job.value, local, this.outcome?.kind === "lost").filter((p) => !this.traceSent.has(p.name));
    for (const p of spans) this.traceSent.add(p.name);
    this.deps.tracing.emit(this.traceparent, spans);
  }

  /** Renew the lease, then CAS the job. False when the fence moved (lease lost). */
  private async fenced(to: JobState, patch: Partial<JobRecord> = {}): Promise<boolean> {
    if (this.outcome?.kind === "lost") return false;
    const next = await fencedWrite(this.lease!, this.deps.jobs, this.job, to, patch);
    if (next === "lost") {
      this.end({ kind: "lost" });
      return false;
    }
    this.job = next;
    return true;
  }

  private startHeartbeat(): void {
    const every = Math.max(200, Math.floor(this.deps.leaseTtlMs / 3));
    this.heartbeat = setInterval(async () => {
      const lease = this.lease;
      try {
        await lease?.renew();
      } catch (e) {
        if (isLeaseLost(e)) this.end({ kind: "lost" });
        // NATS unreachable: we cannot prove we hold the lease once its TTL has passed.
        else if (Date.now() - (lease?.renewedAt ?? 0) > this.deps.leaseTtlMs) this.end({ kind: "lost" });
      }
    }, every);
  }
}
