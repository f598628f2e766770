/**
 * The registry's admin API, for `nimbus registry ls|usage|rm`, `nimbus status` and the dashboard:
 *
 *   GET    /v1/registry/repositories[?org=&limit=]   repositories, with tags, bytes and last push
 *   GET    /v1/registry/tags?repo=ORG/NAME            a repository's tags: digest, size, push time
 *   GET    /v1/registry/usage[?org=]                  per org: repositories, blobs, bytes, quota
 *   DELETE /v1/registry/repositories?repo=ORG/NAME    a repository (tags, manifests, links)
 *   DELETE /v1/registry/tags?repo=ORG/NAME&tag=T      one tag
 *
 * Nimbus tokens as Bearer, any role but `agent` (like the cache's admin routes): listings are the
 * caller's org (an operator sees every org, or the one it asks for; another org asked for is a 403);
 * another org's repository is a 404, as if it did not exist; deleting needs the registry's `delete`
 * (org-admins and operators), else 403. Deletes are audited when the service has the audit trail.
 * Answers are JSON; errors `{code, message}` with a stable code.
 */
import { Elysia } from "elysia";
import { AppError, isAppError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { authenticate, type AuthOptions } from "../../http/common.ts";
import { listingOrg, seesOrg, type Principal, type Role } from "../../auth/principal.ts";
import type { AuditRecord } from "../../auth/audit.ts";
import { allowedActions } from "../auth/grants.ts";
import { repoOrg } from "../auth/scope.ts";
import type { RegistryDeps } from "../deps.ts";
import { RegistryError } from "../errors.ts";
import { removeRepository, removeTag, repositories, summarize, tagsOf, usage } from "../inventory.ts";
import { ListQuery, queryOf, RepoQuery, TagQuery, UsageQuery } from "./admin-input.ts";

const CALLERS: readonly Role[] = ["operator", "org-admin", "member", "viewer"];

export interface AdminDeps {
  auth: AuthOptions;
  /** Organisations anyone may pull from (they do not widen what the admin API shows). */
  publicOrgs: ReadonlySet<string>;
  /** The org's registry quota in bytes (0: none), when the service can read the limits. */
  quota?: (org: string) => number;
  /** Append an audit record (src/auth/audit.ts); absent: deletes are not audited. */
  audit?: (r: AuditRecord) => Promise<void>;
  log: Logger;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function answer(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
}

/** Any failure as the admin API's JSON: the registry's own errors keep their status, with our codes. */
function errorAnswer(e: unknown, log: Logger): Response {
  if (isAppError(e)) return answer(e.status, { code: e.code, message: e.message });
  if (e instanceof RegistryError) {
    const code = e.status === 404 ? "not_found" : e.status === 401 ? "unauthorized" : e.status === 403 ? "forbidden" : "bad_request";
    return answer(e.status, { code, message: e.message });
  }
  log.error("registry admin request failed", { error: e });
  return answer(500, { code: "internal", message: "internal error" });
}

/** The repository, if the caller sees its org; another org's is a 404 that names only the name. */
function visible(p: Principal, repo: string): string {
  if (!seesOrg(p, repoOrg(repo))) throw new AppError("not_found", `repository ${repo} not found`);
  return repo;
}

async function mayDelete(a: AdminDeps, p: Principal, repo: string): Promise<void> {
  visible(p, repo);
  if (!allowedActions(a, p, repo).includes("delete")) throw new AppError("forbidden", `a ${p.role} token may not delete in the registry (org-admins and operators may)`, { role: p.role });
}

type Remote = { requestIP(r: Request): { address: string } | null } | null | undefined;

/**
 * Run a delete, then append its audit record (the outcome: ok, or the error code it ended with) and
 * only then answer. A record that cannot be written is logged and said in the answer (`audited: false`).
 */
async function audited<T extends object>(a: AdminDeps, c: { p: Principal; request: Request; server: Remote; repo: string }, act: () => Promise<T>, detail: (r: T) => Record<string, unknown>): Promise<T & { audited: boolean }> {
  const record = async (outcome: string, extra?: Record<string, unknown>): Promise<boolean> => {
    if (!a.audit) return false;
    const r: AuditRecord = {
      at: Date.now(),
      actor: { sub: c.p.sub, role: c.p.role, org: c.p.org, tokenId: c.p.tokenId },
      action: "registry.delete",
      // A refused call on another org's repository goes in the caller's own trail, not the other org's.
      org: seesOrg(c.p, repoOrg(c.repo)) ? repoOrg(c.repo) : c.p.org,
      target: c.repo,
      remote: c.server?.requestIP(c.request)?.address ?? null,
      outcome,
      ...(extra ? { detail: extra } : {}),
    };
    return a.audit(r).then(() => true, (e) => (a.log.error("audit record not written", { action: r.action, error: e }), false));
  };
  let result: T;
  try {
    result = await act();
  } catch (e) {
    await record(isAppError(e) ? e.code : e instanceof RegistryError && e.status === 404 ? "not_found" : "error");
    throw e;
  }
  return { ...result, audited: await record("ok", detail(result)) };
}

export function registryAdminRoutes(d: RegistryDeps, a: AdminDeps) {
  const who = (request: Request) => authenticate(request, a.auth, CALLERS);
  const guarded = (fn: (request: Request, server: Remote) => Promise<unknown>) => async ({ request, server }: { request: Request; server: Remote }) => {
    try {
      return answer(200, await fn(request, server));
    } catch (e) {
      return errorAnswer(e, a.log);
    }
  };
  return new Elysia({ name: "registry-admin", prefix: "/v1/registry" })
    .get("/repositories", guarded(async (request) => {
      const p = await who(request);
      const q = queryOf(request, ListQuery);
      const names = (await repositories(d, listingOrg(p, q.org))).slice(0, q.limit ?? 1000);
      const list = await Promise.all(names.map((n) => summarize(d, n)));
      return { repositories: list.map((r) => ({ ...r, lastPush: iso(r.lastPush) })) };
    }), { parse: "none" })
    .get("/tags", guarded(async (request) => {
      const p = await who(request);
      const repo = visible(p, queryOf(request, RepoQuery).repo);
      const tags = await tagsOf(d, repo);
      return { repo, tags: tags.map((t) => ({ ...t, pushedAt: iso(t.pushedAt) })) };
    }), { parse: "none" })
    .get("/usage", guarded(async (request) => {
      const p = await who(request);
      const org = listingOrg(p, queryOf(request, UsageQuery).org);
      const list = (await usage(d, org)).map((u) => {
        const quotaBytes = a.quota?.(u.org) ?? null;
        return { ...u, quotaBytes, overQuota: quotaBytes ? u.bytes > quotaBytes : false };
      });
      return { usage: list, totalBytes: list.reduce((n, u) => n + u.bytes, 0), quotaKnown: a.quota !== undefined };
    }), { parse: "none" })
    .delete("/repositories", guarded(async (request, server) => {
      const p = await who(request);
      const { repo } = queryOf(request, RepoQuery);
      const r = await audited(a, { p, request, server, repo }, () => mayDelete(a, p, repo).then(() => removeRepository(d, repo)), (x) => ({ kind: "repository", tags: x.tags.length, manifests: x.manifests, blobs: x.blobs }));
      return { deleted: r };
    }), { parse: "none" })
    .delete("/tags", guarded(async (request, server) => {
      const p = await who(request);
      const { repo, tag } = queryOf(request, TagQuery);
      const r = await audited(a, { p, request, server, repo }, () => mayDelete(a, p, repo).then(() => removeTag(d, repo, tag)), (x) => ({ kind: "tag", tag: x.tag, digest: x.digest }));
      return { deleted: r };
    }), { parse: "none" });
}
