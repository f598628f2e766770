/**
 * Admin API for `nimbus cache ls|usage|rm|env` (admin tokens only): list entries, usage per
 * repository or organisation, delete, mint a runtime token, storage status, run a sweep now.
 */
import { Elysia } from "elysia";
import { AppError } from "../../core/errors.ts";
import { authenticate, type AuthOptions } from "../../http/common.ts";
import { discard, sweep } from "../eviction.ts";
import { checkRepo, parseId } from "../keys.ts";
import type { CacheEntry } from "../model.ts";
import { mintRuntimeToken, scopesForRun } from "../../protocol/cache-token.ts";
import { readJson, type HttpDeps } from "./context.ts";

function limitParam(raw: unknown): number {
  if (raw === undefined) return 1000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new AppError("validation_failed", "limit: must be 1-10000", { field: "limit" });
  return n;
}

export function entryView(e: CacheEntry) {
  return {
    id: e.id, repo: e.repo, scope: e.scope, key: e.key, version: e.version, state: e.state, protocol: e.protocol, size: e.size,
    createdAt: new Date(e.createdAt).toISOString(), lastUsedAt: new Date(e.lastUsedAt).toISOString(),
  };
}

function optionalString(raw: unknown, field: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") throw new AppError("validation_failed", `${field}: must be a string`, { field });
  return raw;
}

export function adminRoutes(d: HttpDeps, auth: AuthOptions) {
  return new Elysia({ prefix: "/v1/cache" })
    .onBeforeHandle(async ({ request }) => {
      await authenticate(request, auth, ["operator"]);
    })
    .get("/entries", ({ query }) => {
      const repo = query.repo ? checkRepo(String(query.repo)) : undefined;
      const state = query.state === "uploading" || query.state === "ready" ? query.state : undefined;
      const list = d.index.list({ repo, org: query.org ? String(query.org).toLowerCase() : undefined, key: query.key ? String(query.key) : undefined, state, limit: limitParam(query.limit) });
      return { entries: list.map(entryView) };
    })
    .get("/usage", ({ query }) => {
      const by = query.by === "org" ? "org" : "repo";
      return { by, usage: d.index.usage(by, query.name ? String(query.name).toLowerCase() : undefined), totalBytes: d.index.totalBytes() };
    })
    .delete("/entries/:id", async ({ params }) => {
      const e = d.index.get(parseId(params.id));
      if (!e) throw new AppError("not_found", `no cache entry ${params.id}`);
      await discard(d, e, "deleted");
      return { deleted: [e.id] };
    })
    .delete("/entries", async ({ query }) => {
      if (!query.repo) throw new AppError("validation_failed", "repo: is required (delete one repository's entries at a time)", { field: "repo" });
      const list = d.index.list({ repo: checkRepo(String(query.repo)), key: query.key ? String(query.key) : undefined, limit: 10_000 });
      for (const e of list) await discard(d, e, "deleted");
      return { deleted: list.map((e) => e.id) };
    })
    .post("/tokens", async ({ request }) => {
      const b = await readJson(request);
      const repo = checkRepo(String(b.repo ?? ""));
      const scopes = scopesForRun({ ref: String(b.ref ?? ""), baseRef: optionalString(b.baseRef, "baseRef"), defaultRef: optionalString(b.defaultRef, "defaultRef") });
      const ttlSeconds = b.ttlSeconds === undefined ? 6 * 3600 : Number(b.ttlSeconds);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > 7 * 86400) throw new AppError("validation_failed", "ttlSeconds: must be 60-604800");
      const token = await mintRuntimeToken(d.secret, { repo, scopes, ttlSeconds });
      return { token, repo, scopes, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
    }, { parse: "none" })
    .get("/status", async () => ({ storage: d.store.kind, breaker: d.store.breaker.state, healthy: await d.store.healthy(), totalBytes: d.index.totalBytes() }))
    .post("/sweep", () => sweep(d));
}
