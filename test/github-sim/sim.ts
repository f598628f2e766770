/**
 * A GitHub simulator for tests and `nimbus up --demo`: the App token, JIT runner, runners,
 * workflow runs/jobs and hook-delivery endpoints of the REST API; signed `workflow_job` webhooks
 * shaped like GitHub's (see ../shared/fixtures/github-webhooks); GitHub's job assignment (any idle
 * runner whose labels include the job's, adversarially: preferring a runner started for another
 * job); and faults on demand (webhook drop/delay/duplicate, API 5xx and rate limits, runner
 * acquire errors). Runners are the stand-in in ./runner.ts, started from the JIT config.
 * A runner that takes a job gets the variables GitHub's broker gives one (its results URL, a
 * GitHub-style runtime token, v2 on), and the simulator also answers as GitHub's results service
 * (cache calls are recorded in `resultsCalls` and answered as misses).
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { jwtVerify } from "jose";
import { WebhookSender, type WebhookFaults } from "./webhooks.ts";

export interface SimJob {
  id: number;
  run_id: number;
  run_attempt: number;
  name: string;
  workflow_name: string;
  owner: string;
  repo: string;
  labels: string[];
  steps: string[];
  /** The branch of the run (null: GitHub names none). */
  head_branch: string | null;
  /** The runtime token GitHub gives this job's runner (a JWT of GitHub's, not Nimbus's). */
  runtime_token: string;
  status: "queued" | "in_progress" | "completed";
  conclusion: string | null;
  runner_id: number | null;
  runner_name: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** How many times GitHub handed the job to a runner / completed it (each must end at 1). */
  assignments: number;
  completions: number;
  /** The log the runner uploaded with its completion (GitHub serves it at …/jobs/ID/logs). */
  log?: string;
  /** Log requests answered so far (the `logs404` fault answers the first ones 404). */
  logRequests?: number;
}

export interface SimRunner {
  id: number;
  name: string;
  labels: string[];
  scope: string;
  status: "online" | "offline";
  busy: boolean;
  token: string;
  lastSeen: number;
  jobId: number | null;
  /** A job assigned while the runner was between polls. */
  pending: SimJob | null;
  wake: (() => void) | null;
  acquireError: boolean;
}

export interface SimFaults extends WebhookFaults {
  api5xx: number;
  apiRateLimit: number;
  acquireError: number;
  /** A job's log is "not there yet" (404) for this many requests after its completion, as GitHub's often is. */
  logs404: number;
}

export interface SimOptions {
  webhookUrl: string;
  secret?: string;
  appId?: string;
  installationId?: number;
  org?: string;
  repos?: string[];
  assignment?: "adversarial" | "fifo";
  /** A busy runner not heard from for this long is lost: GitHub fails its job. */
  runnerLostMs?: number;
  seed?: number;
  port?: number;
  /** Address to listen on (and put in runners' JIT configs); default 127.0.0.1. */
  host?: string;
  /** The address runners are told to reach the simulator at (their JIT config), when not `host`;
   * `_gateway`: their own default gateway (the bridge address of the agent whose job they run in). */
  runnerHost?: string;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GitHub's results host, as the broker names it in a job's variables. */
export const GITHUB_RESULTS_URL = "https://results-receiver.actions.githubusercontent.com/";

/** A JWT-shaped token as GitHub mints for a job's runner (signed by GitHub: meaningless to Nimbus). */
function githubStyleToken(jobId: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ typ: "JWT", alg: "RS256", x5t: "sim" })}.${part({ scp: "Actions.Results:5000:" + jobId, iss: "https://token.actions.githubusercontent.com" })}.${randomBytes(32).toString("base64url")}`;
}

/** What the runner exports to a JavaScript action from the job message (the cache-related part of it). */
const RUNNER_VARIABLES = (j: SimJob): Record<string, string> => ({
  ACTIONS_RESULTS_URL: GITHUB_RESULTS_URL,
  ACTIONS_CACHE_SERVICE_V2: "True",
  ACTIONS_RUNTIME_TOKEN: j.runtime_token,
  ACTIONS_RUNTIME_URL: `https://pipelines.actions.githubusercontent.com/${j.run_id}/`,
  GITHUB_SERVER_URL: "https://github.com",
  GITHUB_REPOSITORY: `${j.owner}/${j.repo}`,
  ...(j.head_branch ? { GITHUB_REF: `refs/heads/${j.head_branch}` } : {}),
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(body === null ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

export class GithubSim {
  readonly appId: string;
  readonly privateKeyPem: string;
  private readonly publicKey: KeyObject;
  readonly secret: string;
  readonly installationId: number;
  readonly org: string;
  readonly repos: string[];
  readonly jobs = new Map<number, SimJob>();
  readonly runners = new Map<number, SimRunner>();
  readonly webhooks: WebhookSender;
  faults: SimFaults = { drop: 0, dropRecorded: 0.5, delay: 0, delayMs: 0, duplicate: 0, api5xx: 0, apiRateLimit: 0, acquireError: 0, logs404: 0 };
  readonly stats = { apiCalls: 0, api5xx: 0, apiRateLimited: 0, jitConfigs: 0, runnersDeleted: 0, deleteRefusedBusy: 0, acquireErrors: 0, runnersLost: 0, runnersLostBusy: 0 };
  /** Jobs GitHub failed because their runner was lost mid-job. */
  readonly lostJobs: number[] = [];
  private readonly tokens = new Map<string, number>();
  private readonly rand: () => number;
  private nextJobId = 1000;
  private nextRunnerId = 1;
  private server!: ReturnType<typeof Bun.serve>;
  private sweeper!: ReturnType<typeof setInterval>;
  url = "";
  /** Where runners reach the simulator (a VM guest: on its gateway). */
  runnerUrl = "";

  constructor(private readonly o: SimOptions) {
    this.rand = mulberry32(o.seed ?? 42);
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.privateKeyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    this.publicKey = publicKey;
    this.appId = o.appId ?? "4242";
    this.secret = o.secret ?? randomBytes(24).toString("hex");
    this.installationId = o.installationId ?? 777;
    this.org = o.org ?? "octo-org";
    this.repos = o.repos ?? ["octo-repo"];
    this.webhooks = new WebhookSender(this.secret, o.webhookUrl, this.rand);
  }

  set webhookFaults(f: Partial<SimFaults>) {
    this.faults = { ...this.faults, ...f };
    this.webhooks.faults = this.faults;
  }

  start(): this {
    const host = this.o.host ?? "127.0.0.1";
    this.server = Bun.serve({ hostname: host, port: this.o.port ?? 0, idleTimeout: 30, fetch: (req) => this.route(req) });
    this.url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${this.server.port}`;
    this.runnerUrl = this.o.runnerHost ? `http://${this.o.runnerHost}:${this.server.port}` : this.url;
    this.sweeper = setInterval(() => this.sweepLost(), 200);
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.webhooks.settle();
    this.server.stop(true);
  }

  /** A workflow job is queued on GitHub (as a push would do): GitHub sends `queued`. */
  queueJob(spec: { labels: string[]; steps: string[]; name?: string; repo?: string; branch?: string | null }): SimJob {
    const id = this.nextJobId++;
    const job: SimJob = {
      id, run_id: 5_000_000 + id, run_attempt: 1, name: spec.name ?? `job-${id}`, workflow_name: "CI", owner: this.org, repo: spec.repo ?? this.repos[0]!,
      labels: spec.labels, steps: spec.steps, head_branch: spec.branch === undefined ? "main" : spec.branch, runtime_token: githubStyleToken(id), status: "queued", conclusion: null, runner_id: null, runner_name: null,
      created_at: new Date().toISOString(), started_at: null, completed_at: null, assignments: 0, completions: 0,
    };
    this.jobs.set(id, job);
    this.emit("queued", job);
    this.assign();
    return job;
  }

  private payload(action: string, j: SimJob): Record<string, unknown> {
    const base = `https://github.com/${j.owner}/${j.repo}`;
    return {
      action,
      workflow_job: {
        id: j.id, run_id: j.run_id, run_attempt: j.run_attempt, node_id: `WJ_${j.id}`, head_sha: "3484a3fb816e0859fd6e1cea078d76385ff50625", head_branch: j.head_branch,
        url: `https://api.github.com/repos/${j.owner}/${j.repo}/actions/jobs/${j.id}`, html_url: `${base}/actions/runs/${j.run_id}/job/${j.id}`,
        run_url: `https://api.github.com/repos/${j.owner}/${j.repo}/actions/runs/${j.run_id}`, check_run_url: `https://api.github.com/repos/${j.owner}/${j.repo}/check-runs/${j.id}`,
        status: j.status, conclusion: j.conclusion, created_at: j.created_at, started_at: j.started_at ?? j.created_at, completed_at: j.completed_at,
        name: j.name, workflow_name: j.workflow_name, steps: [], labels: j.labels,
        runner_id: j.runner_id, runner_name: j.runner_name, runner_group_id: j.runner_id ? 1 : null, runner_group_name: j.runner_id ? "Default" : null,
      },
      repository: { id: 1, node_id: "R_1", name: j.repo, full_name: `${j.owner}/${j.repo}`, private: true, owner: { login: j.owner, id: 2, type: "Organization" } },
      organization: { login: j.owner, id: 2 },
      installation: { id: this.installationId, node_id: "I_1" },
      sender: { login: "octocat", id: 1, type: "User" },
    };
  }

  private emit(action: string, j: SimJob): void {
    this.webhooks.emit("workflow_job", this.payload(action, j));
  }

  private matches(r: SimRunner, j: SimJob): boolean {
    const have = new Set(r.labels.map((l) => l.toLowerCase()));
    return j.labels.every((l) => have.has(l.toLowerCase()));
  }

  /** GitHub's assignment: any idle online runner whose labels include the job's; adversarial prefers a runner started for another job. */
  private assign(): void {
    let queued = [...this.jobs.values()].filter((j) => j.status === "queued");
    if (this.o.assignment !== "fifo") queued = queued.sort(() => this.rand() - 0.5);
    for (const job of queued) {
      const idle = [...this.runners.values()].filter((r) => r.status === "online" && !r.busy && !r.acquireError && this.matches(r, job));
      if (!idle.length) continue;
      const foreign = idle.filter((r) => !r.name.includes(`gh-${job.id}-`));
      const pool = this.o.assignment !== "fifo" && foreign.length ? foreign : idle;
      const runner = pool[Math.floor(this.rand() * pool.length)]!;
      runner.busy = true;
      runner.jobId = job.id;
      job.status = "in_progress";
      job.runner_id = runner.id;
      job.runner_name = runner.name;
      job.started_at = new Date().toISOString();
      job.assignments++;
      runner.pending = job;
      runner.wake?.();
      this.emit("in_progress", job);
    }
  }

  private complete(job: SimJob, conclusion: string): void {
    if (job.status === "completed") return;
    job.status = "completed";
    job.conclusion = conclusion;
    job.completed_at = new Date().toISOString();
    job.completions++;
    this.emit("completed", job);
  }

  /** Busy runners not heard from are lost (GitHub fails their job); idle ones just go offline. */
  private sweepLost(): void {
    const lostAfter = this.o.runnerLostMs ?? 10_000;
    for (const r of this.runners.values()) {
      if (r.status !== "online" || Date.now() - r.lastSeen < lostAfter) continue;
      r.status = "offline";
      this.stats.runnersLost++;
      const job = r.jobId ? this.jobs.get(r.jobId) : undefined;
      if (job && job.status === "in_progress") {
        this.stats.runnersLostBusy++;
        this.lostJobs.push(job.id);
        this.complete(job, "failure");
      }
      r.busy = false;
    }
  }

  // ---- HTTP ----

  private async route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const p = url.pathname;
    if (p.startsWith("/_runner/")) return this.runnerApi(p.slice(9), req);
    if (p.startsWith("/_logs/")) {
      const id = this.logFetches.get(p.slice(7));
      this.logDownloads.push({ auth: req.headers.get("authorization") });
      const j = id === undefined ? undefined : this.jobs.get(id);
      return j ? new Response(j.log ?? "", { headers: { "content-type": "text/plain; charset=utf-8" } }) : json(404, { message: "Not Found" });
    }
    if (p.startsWith("/twirp/github.actions.results.") || p.startsWith("/_apis/artifactcache/")) return this.resultsApi(p, req);
    this.stats.apiCalls++;
    if (this.rand() < this.faults.api5xx) {
      this.stats.api5xx++;
      return json(502, { message: "Server Error" });
    }
    if (this.rand() < this.faults.apiRateLimit) {
      this.stats.apiRateLimited++;
      return json(403, { message: "API rate limit exceeded" }, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + 1), "retry-after": "1" });
    }
    const auth = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^\/app\/installations\/(\d+)\/access_tokens$/)) && req.method === "POST") {
      if (!(await this.validJwt(auth))) return json(401, { message: "A JSON web token could not be decoded" });
      if (Number(m[1]) !== this.installationId) return json(404, { message: "Not Found" });
      const token = `ghs_${randomBytes(18).toString("hex")}`;
      this.tokens.set(token, Date.now() + 3_600_000);
      return json(201, { token, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: { organization_self_hosted_runners: "write" }, repository_selection: "all" });
    }
    if (p.startsWith("/app/hook/")) {
      if (!(await this.validJwt(auth))) return json(401, { message: "A JSON web token could not be decoded" });
      if (p === "/app/hook/deliveries" && req.method === "GET")
        return json(200, [...this.webhooks.deliveries].reverse().slice(0, 100).map(({ body: _b, ...d }) => d));
      if ((m = p.match(/^\/app\/hook\/deliveries\/(\d+)\/attempts$/)) && req.method === "POST")
        return this.webhooks.redeliver(Number(m[1])) ? json(202, {}) : json(404, { message: "Not Found" });
    }
    if (!this.validToken(auth)) return json(401, { message: "Bad credentials" });
    if (p === "/installation/repositories")
      return json(200, { total_count: this.repos.length, repositories: this.repos.map((name) => ({ name, full_name: `${this.org}/${name}`, owner: { login: this.org, type: "Organization" } })) });
    if ((m = p.match(/^\/repos\/([^/]+)\/([^/]+)\/actions\/(.+)$/))) return this.repoApi(m[1]!, m[2]!, m[3]!, req, url);
    if ((m = p.match(/^\/orgs\/([^/]+)\/actions\/runners(.*)$/))) return this.runnersApi(`org:${m[1]}`, m[2]!, req, url);
    return json(404, { message: "Not Found" });
  }

  private async validJwt(token: string): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { algorithms: ["RS256"], issuer: this.appId });
      return (payload.exp ?? 0) - (payload.iat ?? 0) <= 660 && (payload.iat ?? 0) <= Date.now() / 1000;
    } catch {
      return false;
    }
  }

  /** GitHub's results service: cache calls recorded and answered as misses (nothing is stored here). */
  readonly resultsCalls: { path: string; auth: string | null }[] = [];
  /** Signed log download paths handed out, and the downloads made (with whatever authorization came along). */
  private readonly logFetches = new Map<string, number>();
  readonly logDownloads: { auth: string | null }[] = [];
  private async resultsApi(path: string, req: Request): Promise<Response> {
    this.resultsCalls.push({ path, auth: req.headers.get("authorization") });
    await req.arrayBuffer().catch(() => {});
    if (path.endsWith("/GetCacheEntryDownloadURL")) return json(200, { ok: false, signed_download_url: "", matched_key: "" });
    if (path.endsWith("/CreateCacheEntry")) return json(200, { ok: false, signed_upload_url: "" });
    if (path.startsWith("/_apis/artifactcache/cache")) return new Response(null, { status: 204 });
    return json(404, { code: "not_found", msg: "not simulated" });
  }

  private validToken(token: string): boolean {
    return (this.tokens.get(token) ?? 0) > Date.now();
  }

  private ghJob(j: SimJob) {
    const { steps: _s, assignments: _a, completions: _c, owner: _o, repo: _r, runtime_token: _t, ...rest } = j;
    return rest;
  }

  private repoApi(owner: string, repo: string, rest: string, req: Request, url: URL): Response | Promise<Response> {
    let m: RegExpMatchArray | null;
    if (rest.startsWith("runners")) return this.runnersApi(`repo:${owner}/${repo}`, rest.slice(7), req, url);
    const mine = [...this.jobs.values()].filter((j) => j.owner === owner && j.repo === repo);
    if (rest === "runs") {
      const status = url.searchParams.get("status");
      // `created=>=ISO` (GitHub's date-range syntax; only the lower bound is simulated).
      const since = /^>=(.+)$/.exec(url.searchParams.get("created") ?? "")?.[1];
      const from = since ? Date.parse(since) : -Infinity;
      const runs = mine
        .filter((j) => (!status || j.status === status) && Date.parse(j.created_at) >= from)
        .map((j) => ({ id: j.run_id, status: j.status, conclusion: j.conclusion, created_at: j.created_at }));
      const page = Number(url.searchParams.get("page") ?? 1);
      return json(200, { total_count: runs.length, workflow_runs: runs.slice((page - 1) * 100, page * 100) });
    }
    if ((m = rest.match(/^runs\/(\d+)\/jobs$/))) {
      const jobs = mine.filter((j) => j.run_id === Number(m![1])).map((j) => this.ghJob(j));
      return json(200, { total_count: jobs.length, jobs: Number(url.searchParams.get("page") ?? 1) > 1 ? [] : jobs });
    }
    // The job's log: a redirect to the text on another path (GitHub's goes to blob storage), which needs no token.
    if ((m = rest.match(/^jobs\/(\d+)\/logs$/))) {
      const j = this.jobs.get(Number(m[1]));
      if (!j || j.owner !== owner || j.repo !== repo || j.status !== "completed") return json(404, { message: "Not Found" });
      j.logRequests = (j.logRequests ?? 0) + 1;
      if (j.logRequests <= this.faults.logs404) return json(404, { message: "Not Found" });
      this.logFetches.set(`l${j.id}-${randomBytes(8).toString("hex")}`, j.id);
      const key = [...this.logFetches.keys()].at(-1)!;
      return new Response(null, { status: 302, headers: { location: `${this.url}/_logs/${key}` } });
    }
    if ((m = rest.match(/^jobs\/(\d+)$/))) {
      const j = this.jobs.get(Number(m[1]));
      return j && j.owner === owner ? json(200, this.ghJob(j)) : json(404, { message: "Not Found" });
    }
    return json(404, { message: "Not Found" });
  }

  private async runnersApi(scope: string, rest: string, req: Request, url: URL): Promise<Response> {
    let m: RegExpMatchArray | null;
    const view = (r: SimRunner) => ({ id: r.id, name: r.name, os: "linux", status: r.status, busy: r.busy, ephemeral: true, runner_group_id: 1, labels: r.labels.map((name, i) => ({ id: i + 1, name, type: "custom" })) });
    if (rest === "/generate-jitconfig" && req.method === "POST") {
      const body = (await req.json()) as { name?: string; labels?: string[]; runner_group_id?: number };
      if (!body.name || !Array.isArray(body.labels) || !body.labels.length || !body.runner_group_id) return json(422, { message: "Invalid request" });
      if ([...this.runners.values()].some((r) => r.name === body.name && r.scope === scope)) return json(409, { message: "Already exists - A runner with the same name already exists" });
      const r: SimRunner = {
        id: this.nextRunnerId++, name: body.name, labels: body.labels, scope, status: "offline", busy: false, token: randomBytes(16).toString("hex"),
        lastSeen: Date.now(), jobId: null, pending: null, wake: null, acquireError: this.rand() < this.faults.acquireError,
      };
      this.runners.set(r.id, r);
      this.stats.jitConfigs++;
      const files = { ".runner": btoa(JSON.stringify({ agentId: r.id, agentName: r.name, serverUrl: this.runnerUrl, gitHubUrl: `https://github.com/${this.org}` })), ".credentials": btoa(JSON.stringify({ scheme: "OAuth", data: { token: r.token } })) };
      return json(201, { runner: view(r), encoded_jit_config: btoa(JSON.stringify(files)) });
    }
    if (rest === "" && req.method === "GET") {
      const name = url.searchParams.get("name");
      const list = [...this.runners.values()].filter((r) => r.scope === scope && (!name || r.name === name));
      const page = Number(url.searchParams.get("page") ?? 1);
      return json(200, { total_count: list.length, runners: list.slice((page - 1) * 100, page * 100).map(view) });
    }
    if ((m = rest.match(/^\/(\d+)$/)) && req.method === "DELETE") {
      const r = this.runners.get(Number(m[1]));
      if (!r || r.scope !== scope) return json(404, { message: "Not Found" });
      if (r.busy) {
        this.stats.deleteRefusedBusy++;
        return json(422, { message: "Bad request - Runner \"" + r.name + "\" is still running a job\"" });
      }
      this.runners.delete(r.id);
      this.stats.runnersDeleted++;
      r.wake?.();
      return json(204, null);
    }
    return json(404, { message: "Not Found" });
  }

  /** The runner's own protocol (the real runner talks to a broker; this is its stand-in). */
  private async runnerApi(op: string, req: Request): Promise<Response> {
    const { token, jobId, conclusion, log } = (await req.json().catch(() => ({}))) as { token?: string; jobId?: number; conclusion?: string; log?: string };
    const r = [...this.runners.values()].find((x) => x.token === token);
    if (!r) return json(404, { message: "runner not registered" });
    r.lastSeen = Date.now();
    if (op === "connect") {
      if (r.acquireError) {
        this.stats.acquireErrors++;
        return json(403, { message: "runner registration was rejected (simulated acquire error)" });
      }
      r.status = "online";
      this.assign();
      return json(200, { runnerId: r.id });
    }
    if (op === "heartbeat") return json(200, {});
    if (op === "acquire") {
      if (!r.pending) {
        await new Promise<void>((res) => {
          r.wake = res;
          setTimeout(res, 2000);
        });
        r.wake = null;
        r.lastSeen = Date.now();
      }
      if (!this.runners.has(r.id)) return json(404, { message: "runner was removed" });
      const job = r.pending;
      if (!job) return json(204, null);
      r.pending = null;
      return json(200, { job: { id: job.id, name: job.name, steps: job.steps, variables: RUNNER_VARIABLES(job) } });
    }
    if (op === "complete") {
      const job = jobId ? this.jobs.get(jobId) : undefined;
      if (job && r.jobId === job.id) {
        if (typeof log === "string") job.log = log;
        this.complete(job, conclusion ?? "failure");
      }
      this.runners.delete(r.id); // ephemeral: gone after its one job
      this.assign();
      return json(200, {});
    }
    return json(404, { message: "Not Found" });
  }

  counts() {
    const jobs = [...this.jobs.values()];
    return {
      jobs: jobs.length,
      completed: jobs.filter((j) => j.status === "completed").length,
      succeeded: jobs.filter((j) => j.conclusion === "success").length,
      failed: jobs.filter((j) => j.status === "completed" && j.conclusion !== "success").length,
      assignedMoreThanOnce: jobs.filter((j) => j.assignments > 1).length,
      completedMoreThanOnce: jobs.filter((j) => j.completions > 1).length,
      runnersRegistered: this.runners.size,
      runnersBusy: [...this.runners.values()].filter((r) => r.busy).length,
      ...this.stats,
      webhooks: { ...this.webhooks.counts },
    };
  }
}

export async function startGithubSim(o: SimOptions): Promise<GithubSim> {
  return new GithubSim(o).start();
}
