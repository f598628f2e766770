/**
 * Legacy v1 REST protocol (`_apis/artifactcache`), as @actions/cache and nektos/act speak it:
 * lookup (200 entry / 204 miss), reserve, PATCH chunks at Content-Range offsets, commit.
 * Errors carry `message`, which the client surfaces ("cache write denied: ..." included).
 */
import { Elysia } from "elysia";
import { AppError } from "../../core/errors.ts";
import { lookup } from "../downloads.ts";
import { parseId } from "../keys.ts";
import { commitById, reserve, writeChunk } from "../uploads.ts";
import { caller, origin, readJson, requestBody, type HttpDeps } from "./context.ts";

function contentRange(header: string | null): { start: number; end: number } {
  const m = /^bytes (\d{1,16})-(\d{1,16})\/(\*|\d{1,16})$/.exec(header ?? "");
  if (!m) throw new AppError("bad_request", "Content-Range: expected bytes START-END/*");
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new AppError("bad_request", "Content-Range: END is before START");
  return { start, end };
}

function optionalSize(raw: unknown): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "number") throw new AppError("validation_failed", "cacheSize: must be a number");
  return raw;
}

export function v1Routes(d: HttpDeps) {
  return new Elysia({ prefix: "/_apis/artifactcache" })
    .get("/cache", async ({ request, query, set }) => {
      const who = await caller(d, request);
      const keys = String(query.keys ?? "").split(",");
      const hit = await lookup(d, who, keys, query.version, "v1");
      if (!hit) {
        set.status = 204;
        return "";
      }
      const e = hit.entry;
      return { scope: e.scope, cacheKey: e.key, cacheVersion: e.version, creationTime: new Date(e.committedAt ?? e.createdAt).toISOString(), archiveLocation: origin(d, request) + hit.downloadPath };
    })
    .post("/caches", async ({ request, set }) => {
      const who = await caller(d, request);
      const body = await readJson(request);
      const entry = await reserve(d, who, { key: body.key, version: body.version, size: optionalSize(body.cacheSize), protocol: "v1" });
      set.status = 201;
      return { cacheId: entry.id };
    }, { parse: "none" })
    .get("/caches", async ({ request, query }) => {
      const who = await caller(d, request);
      const list = d.index.list({ org: who.org, repo: who.repo, key: query.key ? String(query.key) : undefined, state: "ready", limit: 100 });
      return { totalCount: list.length, artifactCaches: list.map((e) => ({ cacheKey: e.key, scope: e.scope, cacheVersion: e.version, creationTime: new Date(e.committedAt ?? e.createdAt).toISOString() })) };
    })
    .patch("/caches/:id", async ({ request, params, set }) => {
      const who = await caller(d, request);
      await writeChunk(d, who, parseId(params.id, "cacheId"), contentRange(request.headers.get("content-range")), requestBody(request));
      set.status = 204;
      return "";
    }, { parse: "none" })
    .post("/caches/:id", async ({ request, params, set }) => {
      const who = await caller(d, request);
      const id = parseId(params.id, "cacheId");
      const body = await readJson(request);
      await commitById(d, who, id, body.size);
      set.status = 204;
      return "";
    }, { parse: "none" });
}
