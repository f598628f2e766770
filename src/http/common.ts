/**
 * What every Nimbus HTTP service shares: JSON errors with a stable code, a body-size guard that
 * answers 413 before reading, JSON body parsing that answers 400 on malformed input, bearer auth.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { redactText, type Logger } from "../core/log.ts";
import { bearer, verifyToken, type TokenClaims, type TokenKind } from "../auth/tokens.ts";

export function errorBody(e: AppError) {
  return e.toJSON();
}

/**
 * Global error mapping and a body limit; mount first. Bun itself refuses bodies far past the limit
 * (without reading them); up to that, a declared length past the limit gets a JSON 413.
 */
export function baseApp(name: string, opts: { maxBodyBytes: number; log: Logger; bodyLimits?: Record<string, number> }) {
  const largest = Math.max(opts.maxBodyBytes, ...Object.values(opts.bodyLimits ?? {}));
  return new Elysia({ name, serve: { maxRequestBodySize: largest * 4 + 1024 * 1024 } })
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
  adminSubjects: readonly string[];
}

/** Accept a token of one of `kinds`; admin tokens must also be on the allow-list. */
export async function authenticate(request: Request, auth: AuthOptions, kinds: readonly TokenKind[]): Promise<TokenClaims> {
  const token = bearer(request.headers.get("authorization"));
  let last: unknown;
  for (const kind of kinds) {
    try {
      return await verifyToken(auth.secret, token, kind, kind === "admin" ? auth.adminSubjects : undefined);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
