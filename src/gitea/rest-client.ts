/**
 * The parts of a forge's REST API (/api/v1) Nimbus calls, at the connection's runner scope:
 * the (reusable) registration token, waiting jobs (Gitea ≥ 1.24's job listing), and deleting a
 * runner. Errors carry codes: 5xx and network failures are `unavailable` (back off), 401/403
 * `unauthorized`/`forbidden` (the API token), 404 `not_found`.
 */
import { AppError } from "../core/errors.ts";
import type { ForgeConnection, RunnerScope } from "./config.ts";

export interface ForgeJobListing {
  id: number;
  run_id: number;
  name?: string;
  labels: string[];
  status: string;
  repository?: string;
  html_url?: string;
}

/** owner/name of a listed job: its `repository`, else read from its html_url (…/OWNER/REPO/actions/runs/N/jobs/M). */
export function repoOf(j: ForgeJobListing): string {
  if (typeof j.repository === "string") return j.repository.slice(0, 255);
  const m = typeof j.html_url === "string" ? /\/([^/]+)\/([^/]+)\/actions\/runs\//.exec(j.html_url) : null;
  return m ? `${m[1]}/${m[2]}` : "";
}

const seg = encodeURIComponent;
export function scopePath(s: RunnerScope): string {
  return s.level === "instance" ? "/admin" : s.level === "org" ? `/orgs/${seg(s.org)}` : `/repos/${seg(s.owner)}/${seg(s.repo)}`;
}

export class ForgeRestClient {
  constructor(
    private readonly forge: ForgeConnection,
    private readonly fetchFn: typeof fetch = fetch,
    private readonly timeoutMs = 15_000,
  ) {}

  private async call<T>(method: string, path: string): Promise<T> {
    const url = `${this.forge.url}/api/v1${scopePath(this.forge.runnerScope)}${path}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, { method, headers: { authorization: `token ${this.forge.token}`, accept: "application/json" }, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new AppError("unavailable", `${this.forge.id}: ${method} ${path} failed: ${(e as Error).message}`);
    }
    if (res.status >= 500) throw new AppError("unavailable", `${this.forge.id}: ${method} ${path} answered ${res.status}`, { status: res.status });
    if (res.status === 401) throw new AppError("unauthorized", `${this.forge.id}: the API token was refused`);
    if (res.status === 403) throw new AppError("forbidden", `${this.forge.id}: the API token may not ${method} ${path}`);
    if (res.status === 404) throw new AppError("not_found", `${this.forge.id}: ${method} ${path} not found (too old a forge version?)`);
    if (!res.ok) throw new AppError("bad_request", `${this.forge.id}: ${method} ${path} answered ${res.status}`);
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  async registrationToken(): Promise<string> {
    const r = await this.call<{ token?: unknown }>("POST", "/actions/runners/registration-token");
    if (typeof r?.token !== "string" || !r.token) throw new AppError("bad_request", `${this.forge.id}: no registration token in the answer`);
    return r.token;
  }

  /** One page of waiting jobs (newest Gitea names the state `waiting`; GitHub-like `queued` is accepted too). */
  async waitingJobs(page: number, limit = 50): Promise<{ jobs: ForgeJobListing[]; total: number }> {
    const r = await this.call<{ jobs?: unknown; total_count?: unknown }>("GET", `/actions/jobs?status=waiting&page=${page}&limit=${limit}`);
    const jobs = Array.isArray(r?.jobs) ? (r.jobs as ForgeJobListing[]).filter((j) => Number.isSafeInteger(j?.id) && Number.isSafeInteger(j?.run_id) && Array.isArray(j?.labels) && j.labels.every((l) => typeof l === "string")) : [];
    return { jobs, total: typeof r?.total_count === "number" ? r.total_count : jobs.length };
  }

  /** The runners at the connection's scope (the first 100: Nimbus's ephemeral ones come and go). */
  async runners(): Promise<{ id: number; name: string }[]> {
    const r = await this.call<{ runners?: unknown }>("GET", "/actions/runners?limit=100");
    return Array.isArray(r?.runners) ? (r.runners as { id: number; name: string }[]).filter((x) => Number.isSafeInteger(x?.id) && typeof x?.name === "string") : [];
  }

  async deleteRunner(id: number): Promise<void> {
    await this.call("DELETE", `/actions/runners/${id}`);
  }
}
