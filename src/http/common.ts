/**
 * What every Nimbus HTTP service shares: JSON errors with a stable code, a body-size guard that
 * answers 413 before reading, bounded body reading that stops at the limit while the body streams
 * (chunked bodies have no Content-Length to trust), JSON body parsing that answers 400 on
 * malformed input, bearer auth.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { redactText, type Logger } from "../core/log.ts";
import { bearer, verifyToken, type VerifiedToken } from "../auth/tokens.ts";
import type { Role } from "../auth/principal.ts";

export function errorBody(e: AppError) {
  return e.toJSON();
}

/**
 * Global error mapping and a body limit; mount first. A declared length past the limit gets a JSON
 * 413 before anything is read; routes that take a body read it with `readBodyText` (after checking
 * the caller), which stops at the limit whatever the client declared. Bun drops connections whose
 * body passes twice the largest limit as a backstop, without an answer: Bun takes body bytes in
 * faster than a busy route reads them, so a backstop just past the limit cut a client off before
 * the route could answer its 413 (seen on a loaded machine).
 */
export function baseApp(name: string, opts: { maxBodyBytes: number; log: Logger; bodyLimits?: Record<string, number> }) {
  const largest = Math.max(opts.maxBodyBytes, ...Object.values(opts.bodyLimits ?? {}));
  return new Elysia({ name, serve: { maxRequestBodySize: 2 * largest } })
    .onRequest(({ request, set }) => {
      const len = Number(request.headers.get("content-length") ?? 0);
      const limit = opts.bodyLimits && len > opts.maxBodyBytes ? (opts.bodyLimits[new URL(request.url).pathname] ?? opts.maxBodyBytes) : opts.maxBodyBytes;
      if (len > limit) {
        set.status = 413;
        return new AppError("payload_too_large", `request body is ${len} bytes; the limit is ${limit}`).toJSON();
      }
    })
    .onError({ as: "global" }, ({ code, error, set, request }) => {
      if (error instanceof AppError) {
        set.status = error.status;
        const wait = error.details?.retryAfterMs;
        if (error.code === "rate_limited" && typeof wait === "number") set.headers["retry-after"] = String(Math.max(1, Math.ceil(wait / 1000)));
        return error.toJSON();
      }
      if (code === "NOT_FOUND") {
        set.status = 404;
        return { code: "not_found", message: `no route for ${request.method} ${new URL(request.url).pathname}` };
      }
      if (code === "PARSE") {
        set.status = 400;
        return { code: "invalid_json", message: "request body is not valid JSON" };
      }
      if (code === "VALIDATION") {
        set.status = 422;
        return { code: "validation_failed", message: redactText(String((error as Error).message).slice(0, 500)) };
      }
      opts.log.error("request failed", { path: new URL(request.url).pathname, error });
      set.status = 500;
      return { code: "internal", message: "internal error" };
    });
}

/**
 * Read a request body, refusing it (413) as soon as more than `max` bytes have streamed in: the
 * rest is never read (the reader is cancelled). Call it after the caller is authenticated, so an
 * anonymous body is not read at all.
 */
export async function readBodyBytes(request: Request, max: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > max) throw tooLarge(Number(declared), max);
  // A declared length within the limit, not chunked: the server reads exactly that many bytes, so the
  // whole body is bounded and is read at once (a stream reader per request cost the webhook hot path).
  if (declared !== null && !request.headers.has("transfer-encoding")) return new Uint8Array(await request.arrayBuffer());
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      reader.cancel().catch(() => {});
      throw tooLarge(n, max, true);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** `readBodyBytes` as UTF-8 text. */
export async function readBodyText(request: Request, max: number): Promise<string> {
  return new TextDecoder().decode(await readBodyBytes(request, max));
}

function tooLarge(n: number, max: number, streaming = false): AppError {
  return new AppError("payload_too_large", streaming ? `request body is larger than ${max} bytes (the limit)` : `request body is ${n} bytes; the limit is ${max}`, { limit: max });
}

/** Parse a JSON body read as text, so malformed JSON is a 400 that names the problem. */
export function parseJsonBody(text: string): unknown {
  if (!text.trim()) throw new AppError("invalid_json", "request body is empty; expected a JSON object");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AppError("invalid_json", `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export interface AuthOptions {
  secret: string;
  /**
   * The token ledger's verdict on a token whose signature holds (revoked, superseded, unknown): throws
   * 401. Synchronous from the watched mirror; a promise only for a token the mirror has not seen yet.
   */
  ledger?: { check(t: VerifiedToken): void | Promise<void> };
}

/**
 * The caller's principal from its bearer token: signature, expiry and claims, then the ledger.
 * `roles` narrows which roles this route accepts at all (others: 403); what a role may do to which
 * org's resource is `authorize` (src/auth/principal.ts), in the route.
 */
export async function authenticate(request: Request, auth: AuthOptions, roles?: readonly Role[]): Promise<VerifiedToken> {
  const t = await verifyToken(auth.secret, bearer(request.headers.get("authorization")));
  await auth.ledger?.check(t);
  if (roles && !roles.includes(t.role)) throw new AppError("forbidden", `a ${t.role} token is not accepted here`, { role: t.role });
  return t;
}
