/**
 * The Gitea simulator's state and the forge's rules, with no I/O: reusable registration tokens per
 * scope, runners (ephemeral ones take one task), jobs waiting for a runner whose labels cover theirs,
 * tasks handed out by FetchTask against a tasks version, logs acknowledged by index, results by
 * UpdateTask. Faults are data here: a job given to a foreign runner first, calls answered 5xx.
 */
import { randomBytes, randomUUID } from "node:crypto";

export type Scope = { level: "instance" } | { level: "org"; org: string } | { level: "repo"; owner: string; repo: string };
export const scopeKey = (s: Scope) => (s.level === "instance" ? "instance" : s.level === "org" ? `org:${s.org}` : `repo:${s.owner}/${s.repo}`);

export type JobStatus = "waiting" | "running" | "success" | "failure" | "cancelled";
export interface SimJob {
  id: number;
  runId: number;
  repo: string;
  name: string;
  labels: string[];
  /** The job's steps as shell commands: the expanded workflow carries them as `run:`. */
  steps: { name: string; run: string }[];
  status: JobStatus;
  taskId?: number;
  runnerId?: number;
  runnerName?: string;
  createdAt: string;
}
export interface SimRunner {
  id: number;
  uuid: string;
  token: string;
  name: string;
  labels: string[];
  ephemeral: boolean;
  version: string;
  scope: string;
  /** Tasks this runner was given, in order. */
  tasks: number[];
  deleted: boolean;
  foreign: boolean;
}
export interface SimTask {
  id: number;
  jobId: number;
  runnerId: number;
  rows: string[];
  logDone: boolean;
  result: number;
  outputs: Record<string, string>;
  /** UpdateTask calls that carried a final result (exactly-once accounting). */
  finals: number;
  runtimeToken: string;
}

export class GiteaModel {
  readonly regTokens = new Map<string, string>();
  readonly runners = new Map<number, SimRunner>();
  readonly jobs = new Map<number, SimJob>();
  readonly tasks = new Map<number, SimTask>();
  tasksVersion = 1;
  private seq = { runner: 0, job: 100, run: 10, task: 1000 };
  /** Fault: the next N waiting jobs go to a foreign runner (as if another act_runner got there first). */
  stealNext = 0;
  /** Called on each job transition (the simulator sends the matching webhook). */
  onJob: (job: SimJob, action: "queued" | "in_progress" | "completed") => void = () => {};

  registrationToken(scope: Scope, reset = false): string {
    const k = scopeKey(scope);
    if (reset || !this.regTokens.has(k)) this.regTokens.set(k, randomBytes(20).toString("hex"));
    return this.regTokens.get(k)!;
  }

  register(req: { name: string; token: string; labels: string[]; ephemeral: boolean; version: string }, foreign = false): SimRunner | null {
    const scope = [...this.regTokens].find(([, t]) => t === req.token)?.[0];
    if (!scope) return null;
    const r: SimRunner = { id: ++this.seq.runner, uuid: randomUUID(), token: randomBytes(20).toString("hex"), name: req.name, labels: req.labels, ephemeral: req.ephemeral, version: req.version, scope, tasks: [], deleted: false, foreign };
    this.runners.set(r.id, r);
    return r;
  }

  runnerByCredentials(uuid: string | null, token: string | null): SimRunner | null {
    if (!uuid || !token) return null;
    for (const r of this.runners.values()) if (r.uuid === uuid && r.token === token && !r.deleted) return r;
    return null;
  }

  addJob(o: { repo: string; labels: string[]; name?: string; steps?: { name: string; run: string }[] }): SimJob {
    const id = ++this.seq.job;
    const j: SimJob = { id, runId: ++this.seq.run, repo: o.repo, name: o.name ?? `job-${id}`, labels: o.labels, steps: o.steps ?? [{ name: "hello", run: `echo hello from gitea job ${id}` }], status: "waiting", createdAt: new Date().toISOString() };
    this.jobs.set(id, j);
    this.tasksVersion++;
    this.onJob(j, "queued");
    return j;
  }

  private inScope(r: SimRunner, j: SimJob): boolean {
    if (r.scope === "instance") return true;
    const [owner] = j.repo.split("/");
    return r.scope === `org:${owner}` || r.scope === `repo:${j.repo}`;
  }

  private matches(r: SimRunner, j: SimJob): boolean {
    // Gitea matches the job's runs-on against the runner labels' names (act_runner's `name:schema:arg`).
    const names = r.labels.map((l) => l.split(":")[0]);
    return j.status === "waiting" && this.inScope(r, j) && j.labels.every((l) => names.includes(l));
  }

  /** FetchTask: nothing new unless the runner's version is behind; an ephemeral runner takes one task only. */
  fetch(r: SimRunner, runnerVersion: bigint): { task: SimTask | null; version: number } {
    if (runnerVersion !== 0n && runnerVersion >= BigInt(this.tasksVersion)) return { task: null, version: this.tasksVersion };
    if (r.ephemeral && r.tasks.length) return { task: null, version: this.tasksVersion };
    const waiting = [...this.jobs.values()].filter((j) => this.matches(r, j));
    if (this.stealNext > 0 && !r.foreign && waiting.length) {
      this.stealNext--;
      this.assign(this.foreignRunner(waiting[0]!.labels), waiting[0]!);
      return this.fetch(r, 0n);
    }
    const job = waiting[0];
    if (!job) return { task: null, version: this.tasksVersion };
    return { task: this.assign(r, job), version: this.tasksVersion };
  }

  private foreignRunner(labels: string[]): SimRunner {
    const token = this.registrationToken({ level: "instance" });
    return this.register({ name: `foreign-${this.seq.runner + 1}`, token, labels, ephemeral: true, version: "foreign" }, true)!;
  }

  private assign(r: SimRunner, job: SimJob): SimTask {
    const t: SimTask = { id: ++this.seq.task, jobId: job.id, runnerId: r.id, rows: [], logDone: false, result: 0, outputs: {}, finals: 0, runtimeToken: randomBytes(16).toString("hex") };
    this.tasks.set(t.id, t);
    Object.assign(job, { status: "running", taskId: t.id, runnerId: r.id, runnerName: r.name });
    r.tasks.push(t.id);
    this.tasksVersion++;
    this.onJob(job, "in_progress");
    return t;
  }

  /** A foreign runner's task finishing on its own (the stolen job completes elsewhere). */
  finishForeign(result = 1): void {
    for (const t of this.tasks.values()) {
      const r = this.runners.get(t.runnerId)!;
      if (r.foreign && !t.result) this.finish(t, result);
    }
  }

  /** UpdateLog: rows at `index`; rows already held are skipped, a gap is refused (ack stays). */
  appendLog(t: SimTask, index: number, rows: string[], noMore: boolean): number {
    if (index > t.rows.length) return t.rows.length;
    t.rows.push(...rows.slice(t.rows.length - index));
    if (noMore) t.logDone = true;
    return t.rows.length;
  }

  finish(t: SimTask, result: number): void {
    t.result = result;
    t.finals++;
    const job = this.jobs.get(t.jobId)!;
    job.status = result === 1 ? "success" : result === 3 ? "cancelled" : "failure";
    const r = this.runners.get(t.runnerId)!;
    if (r.ephemeral) r.deleted = true; // Gitea removes an ephemeral runner once its task is done
    this.onJob(job, "completed");
  }
}

export const JOB_STATUS_TEXT: Record<JobStatus, string> = { waiting: "waiting", running: "running", success: "success", failure: "failure", cancelled: "cancelled" };
