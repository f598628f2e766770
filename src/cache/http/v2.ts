/**
 * v2 protocol: Twirp JSON `github.actions.results.api.v1.CacheService` (proto field names, int64 as
 * strings). A miss or a refused save is `{ok:false}` (the client then skips quietly or warns);
 * errors use Twirp's `{code, msg}` shape because the client always parses the body as JSON.
 */
import { Elysia } from "elysia";
import { AppError, isAppError } from "../../core/errors.ts";
import { lookup } from "../downloads.ts";
import { finalize, reserve, WRITE_DENIED } from "../uploads.ts";
import { caller, origin, readJson, type HttpDeps } from "./context.ts";
import type { Caller } from "../model.ts";

const SERVICE = "/twirp/github.actions.results.api.v1.CacheService";

const TWIRP: Record<string, [string, number]> = {
  bad_request: ["invalid_argument", 400],
  invalid_json: ["malformed", 400],
  validation_failed: ["invalid_argument", 400],
  payload_too_large: ["invalid_argument", 400],
  unauthorized: ["unauthenticated", 401],
  forbidden: ["permission_denied", 403],
  not_found: ["not_found", 404],
  conflict: ["already_exists", 409],
  unavailable: ["unavailable", 503],
};

export function twirpError(e: unknown): Response {
  const [code, status] = isAppError(e) ? (TWIRP[e.code] ?? ["internal", 500]) : ["internal", 500];
  const msg = isAppError(e) ? e.message : "internal error";
  return Response.json({ code, msg }, { status });
}

function int64(raw: unknown, field: string): number {
  const n = typeof raw === "string" && /^\d{1,16}$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new AppError("validation_failed", `${field}: must be a non-negative int64`);
  return n;
}

function restoreKeys(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((k) => typeof k !== "string")) throw new AppError("validation_failed", "restore_keys: must be a list of strings");
  return raw as string[];
}

/** A method gets its caller already checked: the token is verified before the body is read. */
type Handler = (d: HttpDeps, request: Request, body: Record<string, unknown>, who: Caller) => Promise<Record<string, unknown>>;

const METHODS: Record<string, Handler> = {
  async CreateCacheEntry(d, request, body, who) {
    try {
      const entry = await reserve(d, who, { key: body.key, version: body.version, protocol: "v2" });
      return { ok: true, signed_upload_url: origin(d, request) + d.signer.sign("cw", "u", entry.id, d.now()) };
    } catch (e) {
      if (isAppError(e, "forbidden") && e.message.startsWith(WRITE_DENIED)) return { ok: false, message: e.message };
      throw e;
    }
  },
  async FinalizeCacheEntryUpload(d, request, body, who) {
    const entry = await finalize(d, who, body.key, body.version, int64(body.size_bytes, "size_bytes"));
    return { ok: true, entry_id: String(entry.id) };
  },
  async GetCacheEntryDownloadURL(d, request, body, who) {
    const keys = [body.key as string, ...restoreKeys(body.restore_keys)];
    const hit = await lookup(d, who, keys, body.version, "v2");
    if (!hit) return { ok: false };
    return { ok: true, signed_download_url: origin(d, request) + hit.downloadPath, matched_key: hit.entry.key };
  },
};

export function v2Routes(d: HttpDeps) {
  return new Elysia().post(`${SERVICE}/:method`, async ({ request, params }) => {
    try {
      const handler = Object.hasOwn(METHODS, params.method) ? METHODS[params.method] : undefined;
      if (!handler) throw new AppError("not_found", `no method ${params.method}`);
      const who = await caller(d, request);
      return Response.json(await handler(d, request, await readJson(request), who));
    } catch (e) {
      if (!isAppError(e)) d.log.error("twirp call failed", { method: params.method, error: e });
      return twirpError(e);
    }
  }, { parse: "none" });
}
