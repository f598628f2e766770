/**
 * Admin API for `nimbus cache ls|usage|rm|env`: list entries, usage per repository or
 * organisation, delete, mint a runtime token, storage status, run a sweep now.
 *
 * Any non-agent principal may call it, within its organisation (src/auth/principal.ts): listing and
 * usage need cache:read and are filtered to the caller's org (an operator sees every org, or the one
 * it asks for); removing and minting need cache:admin; another org's entry is a 404, as if it did
 * not exist. Storage status and sweeps are the platform's: operators only.
 */
import { Elysia } from "elysia";
import { AppError } from "../../core/errors.ts";
import { authenticate, type AuthOptions } from "../../http/common.ts";
import { authorize, isOrgId, listingOrg, type Principal, type Role } from "../../auth/principal.ts";
import { discard, sweep } from "../eviction.ts";
import { checkRepo, parseId } from "../keys.ts";
import type { CacheEntry } from "../model.ts";
import { DEFAULT_CACHE_ORG, mintRuntimeToken, scopesForRun } from "../../protocol/cache-token.ts";
import { readJson, type HttpDeps } from "./context.ts";

const CALLERS: readonly Role[] = ["operator", "org-admin", "member", "viewer"];

function limitParam(raw: unknown): number {
  if (raw === undefined) return 1000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new AppError("validation_failed", "limit: must be 1-10000", { field: "limit" });
  return n;
}

export function entryView(e: CacheEntry) {
  return {
    id: e.id, org: e.org, repo: e.repo, scope: e.scope, key: e.key, version: e.version, state: e.state, protocol: e.protocol, size: e.size,
    createdAt: new Date(e.createdAt).toISOString(), lastUsedAt: new Date(e.lastUsedAt).toISOString(),
  };
}

function optionalString(raw: unknown, field: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") throw new AppError("validation_failed", `${field}: must be a string`, { field });
  return raw;
}

/** The `org` a request asks for, checked; undefined when it asks for none. */
function askedOrg(raw: unknown): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  const org = String(raw).toLowerCase();
  if (!isOrgId(org)) throw new AppError("validation_failed", "org: must be an organisation id", { field: "org" });
  return org;
}

/** The org a caller's listing covers (null: every org, operators only), after the grant is checked. */
function scopeOf(p: Principal, action: "cache:read" | "cache:admin", asked: unknown): string | null {
  authorize(p, action);
  return listingOrg(p, askedOrg(asked));
}

/** The org a runtime token is minted for: the caller's own; an operator names one (default "default"). */
function mintOrg(p: Principal, asked: unknown): string {
  const org = listingOrg(p, askedOrg(asked));
  return org ?? DEFAULT_CACHE_ORG;
}

export function adminRoutes(d: HttpDeps, auth: AuthOptions) {
  const who = (request: Request) => authenticate(request, auth, CALLERS);
  const operator = (request: Request) => authenticate(request, auth, ["operator"]);
  return new Elysia({ prefix: "/v1/cache" })
    .get("/entries", async ({ query, request }) => {
      const org = scopeOf(await who(request), "cache:read", query.org) ?? undefined;
      const repo = query.repo ? checkRepo(String(query.repo)) : undefined;
      const state = query.state === "uploading" || query.state === "ready" ? query.state : undefined;
      const list = d.index.list({ org, repo, key: query.key ? String(query.key) : undefined, state, limit: limitParam(query.limit) });
      return { entries: list.map(entryView) };
    })
    .get("/usage", async ({ query, request }) => {
      const p = await who(request);
      const org = scopeOf(p, "cache:read", query.org) ?? undefined;
      const by = query.by === "org" ? "org" : "repo";
      const usage = d.index.usage(by, query.name ? String(query.name).toLowerCase() : undefined, org);
      // The whole cache's size is the platform's to know; an org sees its own total.
      const totalBytes = org === undefined ? d.index.totalBytes() : usage.reduce((n, u) => n + u.bytes, 0);
      return { by, usage, totalBytes };
    })
    .delete("/entries/:id", async ({ params, request }) => {
      const p = await who(request);
      const e = d.index.get(parseId(params.id));
      if (!e) throw new AppError("not_found", `no cache entry ${params.id}`);
      authorize(p, "cache:admin", { org: e.org, what: `cache entry ${params.id}` });
      await discard(d, e, "deleted");
      return { deleted: [e.id] };
    })
    .delete("/entries", async ({ query, request }) => {
      const org = scopeOf(await who(request), "cache:admin", query.org) ?? undefined;
      if (!query.repo) throw new AppError("validation_failed", "repo: is required (delete one repository's entries at a time)", { field: "repo" });
      const list = d.index.list({ org, repo: checkRepo(String(query.repo)), key: query.key ? String(query.key) : undefined, limit: 10_000 });
      for (const e of list) await discard(d, e, "deleted");
      return { deleted: list.map((e) => e.id) };
    })
    .post("/tokens", async ({ request }) => {
      const p = await who(request);
      authorize(p, "cache:admin");
      const b = await readJson(request);
      const org = mintOrg(p, b.org);
      const repo = checkRepo(String(b.repo ?? ""));
      const scopes = scopesForRun({ ref: String(b.ref ?? ""), baseRef: optionalString(b.baseRef, "baseRef"), defaultRef: optionalString(b.defaultRef, "defaultRef") });
      const ttlSeconds = b.ttlSeconds === undefined ? 6 * 3600 : Number(b.ttlSeconds);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > 7 * 86400) throw new AppError("validation_failed", "ttlSeconds: must be 60-604800");
      const token = await mintRuntimeToken(d.secret, { org, repo, scopes, ttlSeconds });
      return { token, org, repo, scopes, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
    }, { parse: "none" })
    .get("/status", async ({ request }) => {
      await operator(request);
      return { storage: d.store.kind, breaker: d.store.breaker.state, healthy: await d.store.healthy(), totalBytes: d.index.totalBytes() };
    })
    .post("/sweep", async ({ request }) => {
      await operator(request);
      return sweep(d);
    });
}
