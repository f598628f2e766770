/** Helpers shared by the cache's HTTP routes: callers from runtime tokens, bounded JSON bodies, origins. */
import { AppError } from "../../core/errors.ts";
import { parseJsonBody, readBodyText } from "../../http/common.ts";
import { bearer } from "../../auth/tokens.ts";
import type { CacheDeps } from "../deps.ts";
import type { Caller } from "../model.ts";
import { verifyRuntimeToken } from "../../protocol/cache-token.ts";

export interface HttpDeps extends CacheDeps {
  secret: string;
  publicUrl: string;
  trustForwarded: boolean;
}

export function caller(d: HttpDeps, request: Request): Promise<Caller> {
  return verifyRuntimeToken(d.secret, bearer(request.headers.get("authorization")));
}

/** Read a small body (JSON, XML) with a hard limit while it streams, whatever Content-Length says. */
export function readText(request: Request, max = 1024 * 1024): Promise<string> {
  return readBodyText(request, max);
}

export async function readJson(request: Request): Promise<Record<string, unknown>> {
  const body = parseJsonBody(await readText(request));
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new AppError("invalid_json", "request body must be a JSON object");
  return body as Record<string, unknown>;
}

/** The origin clients should use for blob URLs. */
export function origin(d: HttpDeps, request: Request): string {
  if (d.publicUrl) return d.publicUrl.replace(/\/+$/, "");
  const url = new URL(request.url);
  if (d.trustForwarded) {
    const host = request.headers.get("x-forwarded-host");
    const proto = request.headers.get("x-forwarded-proto");
    if (host && /^[A-Za-z0-9.:\[\]-]+$/.test(host)) return `${proto === "https" ? "https" : "http"}://${host}`;
  }
  return url.origin;
}

export function requestBody(request: Request): ReadableStream<Uint8Array> {
  return request.body ?? new Blob([]).stream();
}

export function contentLength(request: Request): number | undefined {
  const raw = request.headers.get("content-length");
  if (raw === null) return undefined;
  if (!/^\d{1,16}$/.test(raw)) throw new AppError("bad_request", "Content-Length: must be a whole number");
  return Number(raw);
}
