/**
 * The simulator's REST API (/api/v1), the parts Nimbus calls: the registration token (GET, and POST
 * which newer Gitea prefers), runners (list, delete) and waiting jobs, each at instance (admin), org
 * and repository level; `Authorization: token …` (or Bearer) checked. A 5xx fault answers the next
 * N calls with 503, and every call is counted so tests can tell backoff from hammering.
 */
import type { GiteaModel, Scope, SimJob, SimRunner } from "./model.ts";
import { scopeKey } from "./model.ts";

export interface RestState {
  apiToken: string;
  calls: { method: string; path: string; status: number }[];
  /** Fault: answer this many calls with 503. */
  fail5xx: number;
}

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: body === undefined ? {} : { "content-type": "application/json" } });
}

function parseScope(parts: string[]): { scope: Scope; rest: string[] } | null {
  if (parts[0] === "admin") return { scope: { level: "instance" }, rest: parts.slice(1) };
  if (parts[0] === "orgs" && parts[1]) return { scope: { level: "org", org: parts[1] }, rest: parts.slice(2) };
  if (parts[0] === "repos" && parts[1] && parts[2]) return { scope: { level: "repo", owner: parts[1], repo: parts[2] }, rest: parts.slice(3) };
  return null;
}

export function jobJson(j: SimJob, base = "http://gitea.invalid") {
  return {
    id: j.id, run_id: j.runId, name: j.name, labels: j.labels, status: j.status === "running" ? "in_progress" : j.status === "waiting" ? "waiting" : "completed",
    conclusion: ["success", "failure", "cancelled"].includes(j.status) ? j.status : null, runner_id: j.runnerId ?? 0, runner_name: j.runnerName ?? "",
    html_url: `${base}/${j.repo}/actions/runs/${j.runId}/jobs/0`, run_url: `${base}/api/v1/repos/${j.repo}/actions/runs/${j.runId}`, created_at: j.createdAt,
  };
}

const runnerJson = (r: SimRunner) => ({ id: r.id, name: r.name, status: "online", busy: r.tasks.length > 0 && !r.deleted, ephemeral: r.ephemeral, labels: r.labels.map((name) => ({ name })) });

function inScope(scope: Scope, repo: string): boolean {
  return scope.level === "instance" || (scope.level === "org" ? repo.split("/")[0] === scope.org : repo === `${scope.owner}/${scope.repo}`);
}

export async function restHandler(model: GiteaModel, st: RestState, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const res = await route(model, st, req, url);
  st.calls.push({ method: req.method, path: url.pathname, status: res.status });
  return res;
}

async function route(model: GiteaModel, st: RestState, req: Request, url: URL): Promise<Response> {
  if (st.fail5xx > 0) {
    st.fail5xx--;
    return json(503, { message: "simulated outage" });
  }
  const auth = req.headers.get("authorization") ?? "";
  if (auth !== `token ${st.apiToken}` && auth !== `Bearer ${st.apiToken}`) return json(401, { message: "token is required" });
  const parts = url.pathname.replace(/^\/api\/v1\//, "").split("/").filter(Boolean).map(decodeURIComponent);
  const s = parseScope(parts);
  if (!s || s.rest[0] !== "actions") return json(404, { message: "not found" });
  const [, what, id, sub] = s.rest;
  if (what === "runners" && id === "registration-token" && (req.method === "GET" || req.method === "POST")) {
    return json(200, { token: model.registrationToken(s.scope) });
  }
  if (what === "runners" && !id && req.method === "GET") {
    const rs = [...model.runners.values()].filter((r) => !r.deleted && r.scope === scopeKey(s.scope));
    return json(200, { runners: rs.map(runnerJson), total_count: rs.length });
  }
  if (what === "runners" && id && !sub && req.method === "DELETE") {
    const r = model.runners.get(Number(id));
    if (!r || r.deleted || r.scope !== scopeKey(s.scope)) return json(404, { message: "runner not found" });
    r.deleted = true;
    return json(204, undefined);
  }
  if (what === "jobs" && !id && req.method === "GET") {
    const status = url.searchParams.get("status");
    const limit = Math.min(Number(url.searchParams.get("limit") ?? 50) || 50, 100);
    const page = Math.max(Number(url.searchParams.get("page") ?? 1) || 1, 1);
    const all = [...model.jobs.values()].filter((j) => inScope(s.scope, j.repo) && (!status || jobJson(j).status === status));
    return json(200, { jobs: all.slice((page - 1) * limit, page * limit).map((j) => jobJson(j, url.origin)), total_count: all.length });
  }
  return json(404, { message: "not found" });
}
