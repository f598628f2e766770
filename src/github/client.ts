/**
 * The GitHub REST client Nimbus needs: JIT runner configs, runner lookup and removal, job status,
 * queued-job listing, failed-delivery listing and redelivery. Every call goes through `request`,
 * which retries 5xx and network errors with jittered exponential backoff, honours rate-limit
 * headers (`retry-after`, `x-ratelimit-reset`) with a gate shared by all calls, and turns the
 * rest into coded errors. The base URL is configurable (GitHub Enterprise Server).
 */
import type { KV } from "@nats-io/kv";
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { AppAuth, type InstallationToken } from "./app-auth.ts";

export type Auth = "app" | { installationId: number };

export interface GithubClientOptions {
  apiUrl: string;
  appId: string;
  privateKeyPem: string;
  tokenLedger?: KV;
  retryBaseMs: number;
  maxRetries?: number;
  /** Longest we sleep on a rate limit inside one call; longer limits fail fast with `rate_limited`. */
  maxRateWaitMs?: number;
  log: Logger;
  onStatus?: (status: number) => void;
  fetch?: typeof fetch;
}

/** Where runners live: the organisation, or one repository. */
export interface RunnerScope {
  installationId: number;
  kind: "org" | "repo";
  owner: string;
  repo?: string;
}

export interface GhRunner {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  labels: { name: string }[];
}

export interface GhJob {
  id: number;
  run_id: number;
  run_attempt?: number;
  status: string;
  conclusion: string | null;
  labels: string[];
  runner_id: number | null;
  runner_name: string | null;
  name?: string;
  workflow_name?: string | null;
  head_branch?: string | null;
  created_at?: string;
  started_at?: string | null;
  completed_at?: string | null;
  html_url?: string;
}

export interface GhDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
}

export const jitter = (ms: number) => Math.round(ms * (0.5 + Math.random()));

export class GithubClient {
  readonly auth: AppAuth;
  private gateUntil = 0;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly o: GithubClientOptions) {
    this.fetchFn = o.fetch ?? fetch;
    this.auth = new AppAuth(o.appId, o.privateKeyPem, o.tokenLedger, (id, jwt) => this.mintToken(id, jwt));
  }

  private async mintToken(installationId: number, jwt: string): Promise<InstallationToken> {
    const r = await this.call<{ token: string; expires_at: string }>("POST", `/app/installations/${installationId}/access_tokens`, `Bearer ${jwt}`);
    return { token: r.data.token, expiresAt: Date.parse(r.data.expires_at) };
  }

  private async authHeader(auth: Auth): Promise<string> {
    return auth === "app" ? `Bearer ${await this.auth.appJwt()}` : `Bearer ${await this.auth.installationToken(auth.installationId)}`;
  }

  /** One API call with retries; statuses in `accept` are returned instead of thrown. */
  async request<T>(method: string, path: string, auth: Auth, body?: unknown, accept: number[] = [], redirect: RequestRedirect = "follow"): Promise<{ status: number; data: T; headers: Headers }> {
    try {
      return await this.call<T>(method, path, await this.authHeader(auth), body, accept, redirect);
    } catch (e) {
      if (e instanceof AppError && e.details?.status === 401 && auth !== "app") {
        this.auth.invalidate(auth.installationId); // a revoked token: mint a new one once
        return this.call<T>(method, path, await this.authHeader(auth), body, accept, redirect);
      }
      throw e;
    }
  }

  private async call<T>(method: string, path: string, authorization: string, body?: unknown, accept: number[] = [], redirect: RequestRedirect = "follow"): Promise<{ status: number; data: T; headers: Headers }> {
    const maxRetries = this.o.maxRetries ?? 4;
    for (let attempt = 0; ; attempt++) {
      await this.waitGate();
      let res: Response;
      try {
        res = await this.fetchFn(`${this.o.apiUrl.replace(/\/$/, "")}${path}`, {
          method,
          headers: {
            authorization,
            accept: "application/vnd.github+json",
            "x-github-api-version": "2022-11-28",
            "user-agent": "nimbus-ci",
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          redirect,
          signal: AbortSignal.timeout(30_000),
        });
      } catch (e) {
        this.o.onStatus?.(0);
        if (attempt >= maxRetries) throw new AppError("unavailable", `GitHub ${method} ${path}: ${(e as Error).message}`, { status: 0 });
        await Bun.sleep(jitter(this.o.retryBaseMs * 2 ** attempt));
        continue;
      }
      this.o.onStatus?.(res.status);
      const text = await res.text();
      const data = (text ? safeJson(text) : null) as T;
      if (res.ok || accept.includes(res.status)) return { status: res.status, data, headers: res.headers };
      const wait = this.rateLimitWait(res);
      if (wait !== null) {
        const retryAfterMs = Math.max(wait, 1000);
        this.gateUntil = Math.max(this.gateUntil, Date.now() + retryAfterMs);
        this.o.log.warn("GitHub rate limit", { method, path, status: res.status, retryAfterMs });
        if (attempt < maxRetries && retryAfterMs <= (this.o.maxRateWaitMs ?? 10_000)) continue;
        throw new AppError("rate_limited", `GitHub rate limit on ${method} ${path}; retry in ${Math.ceil(retryAfterMs / 1000)}s`, { status: res.status, retryAfterMs });
      }
      if (res.status >= 500 && attempt < maxRetries) {
        await Bun.sleep(jitter(this.o.retryBaseMs * 2 ** attempt));
        continue;
      }
      const message = (data as { message?: string } | null)?.message ?? text.slice(0, 200);
      const code = res.status === 404 ? "not_found" : res.status === 409 ? "conflict" : res.status === 401 ? "unauthorized" : res.status === 403 ? "forbidden" : res.status === 422 ? "validation_failed" : "unavailable";
      throw new AppError(code, `GitHub ${method} ${path} answered ${res.status}: ${message}`, { status: res.status });
    }
  }

  /** null when the response is not a rate limit; else how long to wait. */
  private rateLimitWait(res: Response): number | null {
    if (res.status !== 403 && res.status !== 429) return null;
    const retryAfter = res.headers.get("retry-after");
    if (retryAfter && /^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    if (res.headers.get("x-ratelimit-remaining") === "0") {
      const reset = Number(res.headers.get("x-ratelimit-reset") ?? 0) * 1000;
      return Math.max(1000, reset - Date.now());
    }
    return res.status === 429 ? 60_000 : null;
  }

  private async waitGate(): Promise<void> {
    const wait = this.gateUntil - Date.now();
    if (wait <= 0) return;
    if (wait > (this.o.maxRateWaitMs ?? 10_000)) throw new AppError("rate_limited", `GitHub rate limit in force for ${Math.ceil(wait / 1000)}s more`, { retryAfterMs: wait });
    await Bun.sleep(wait);
  }

  private runnersPath(s: RunnerScope): string {
    return s.kind === "org" ? `/orgs/${s.owner}/actions/runners` : `/repos/${s.owner}/${s.repo}/actions/runners`;
  }

  async generateJitConfig(
    s: RunnerScope,
    spec: { name: string; labels: string[]; runnerGroupId: number; workFolder?: string },
  ): Promise<{ status: number; runner?: GhRunner; encodedJitConfig?: string }> {
    const r = await this.request<{ runner: GhRunner; encoded_jit_config: string }>(
      "POST",
      `${this.runnersPath(s)}/generate-jitconfig`,
      { installationId: s.installationId },
      { name: spec.name, labels: spec.labels, runner_group_id: spec.runnerGroupId, work_folder: spec.workFolder ?? "_work" },
      [409],
    );
    if (r.status === 409) return { status: 409 };
    return { status: r.status, runner: r.data.runner, encodedJitConfig: r.data.encoded_jit_config };
  }

  async findRunner(s: RunnerScope, name: string): Promise<GhRunner | null> {
    const r = await this.request<{ runners: GhRunner[] }>("GET", `${this.runnersPath(s)}?name=${encodeURIComponent(name)}`, { installationId: s.installationId });
    return r.data.runners.find((x) => x.name === name) ?? null;
  }

  async listRunners(s: RunnerScope): Promise<GhRunner[]> {
    return this.paged<GhRunner>(`${this.runnersPath(s)}`, "runners", { installationId: s.installationId });
  }

  /** Remove a runner: `gone` if GitHub no longer knows it, `busy` if it is running a job (422). */
  async removeRunner(s: RunnerScope, runnerId: number): Promise<"removed" | "gone" | "busy"> {
    const r = await this.request("DELETE", `${this.runnersPath(s)}/${runnerId}`, { installationId: s.installationId }, undefined, [404, 422]);
    return r.status === 404 ? "gone" : r.status === 422 ? "busy" : "removed";
  }

  async getJob(installationId: number, owner: string, repo: string, jobId: number): Promise<GhJob | null> {
    const r = await this.request<GhJob>("GET", `/repos/${owner}/${repo}/actions/jobs/${jobId}`, { installationId }, undefined, [404]);
    return r.status === 404 ? null : r.data;
  }

  /**
   * A finished job's log as GitHub serves it (`GET …/actions/jobs/ID/logs`: a redirect to the text, fetched
   * without our token); null while GitHub has none yet (404). Bounded: past `maxBytes` the rest is cut.
   */
  async jobLog(installationId: number, owner: string, repo: string, jobId: number, maxBytes: number): Promise<{ text: string; truncated: boolean } | null> {
    const r = await this.request("GET", `/repos/${owner}/${repo}/actions/jobs/${jobId}/logs`, { installationId }, undefined, [302, 404], "manual");
    if (r.status === 404) return null;
    const location = r.headers.get("location");
    if (r.status !== 302 || !location || !/^https?:\/\//.test(location)) throw new AppError("unavailable", `GitHub's job log for ${jobId} came with no redirect to it (status ${r.status})`);
    const res = await this.fetchFn(location, { redirect: "follow", signal: AbortSignal.timeout(120_000) });
    if (res.status === 404) return null;
    if (!res.ok || !res.body) throw new AppError("unavailable", `GitHub's job log for ${jobId} answered ${res.status}`);
    const parts: Uint8Array[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (size + chunk.length > maxBytes) {
        parts.push(chunk.subarray(0, maxBytes - size));
        truncated = true;
        break;
      }
      parts.push(chunk);
      size += chunk.length;
    }
    return { text: new TextDecoder().decode(Buffer.concat(parts)), truncated };
  }

  async installationRepos(installationId: number): Promise<{ name: string; owner: { login: string; type?: string } }[]> {
    return this.paged("/installation/repositories", "repositories", { installationId });
  }

  /**
   * The jobs a poll looks at in one repository: every job of the runs that are queued or in
   * progress, of the runs created since `sinceMs` that already completed (a job can queue, run
   * and finish between two polls with all its webhooks lost), and of `runIds` (runs active at the
   * previous poll that have since left the active listings). `activeRuns` is for the next poll.
   */
  async pollJobs(installationId: number, owner: string, repo: string, sinceMs: number, runIds: Iterable<number> = []): Promise<{ jobs: GhJob[]; activeRuns: number[] }> {
    const auth = { installationId };
    const runs = new Map<number, string>();
    const created = encodeURIComponent(`>=${new Date(sinceMs).toISOString()}`);
    for (const q of ["status=queued", "status=in_progress", `status=completed&created=${created}`])
      for (const run of await this.paged<{ id: number; status: string }>(`/repos/${owner}/${repo}/actions/runs?${q}`, "workflow_runs", auth)) runs.set(run.id, run.status);
    const activeRuns = [...runs].filter(([, status]) => status !== "completed").map(([id]) => id);
    for (const id of runIds) if (!runs.has(id)) runs.set(id, "completed");
    const jobs: GhJob[] = [];
    for (const id of runs.keys()) jobs.push(...(await this.paged<GhJob>(`/repos/${owner}/${repo}/actions/runs/${id}/jobs`, "jobs", auth)));
    return { jobs, activeRuns };
  }

  /** Recent deliveries of the App's webhook (newest first). */
  async deliveries(perPage = 100): Promise<GhDelivery[]> {
    const r = await this.request<GhDelivery[]>("GET", `/app/hook/deliveries?per_page=${perPage}`, "app");
    return r.data;
  }

  async redeliver(deliveryId: number): Promise<void> {
    await this.request("POST", `/app/hook/deliveries/${deliveryId}/attempts`, "app", undefined, [202]);
  }

  private async paged<T>(path: string, field: string, auth: Auth, maxPages = 10): Promise<T[]> {
    const out: T[] = [];
    const sep = path.includes("?") ? "&" : "?";
    for (let page = 1; page <= maxPages; page++) {
      const r = await this.request<Record<string, T[]>>("GET", `${path}${sep}per_page=100&page=${page}`, auth);
      const items = r.data[field] ?? [];
      out.push(...items);
      if (items.length < 100) break;
    }
    return out;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}
