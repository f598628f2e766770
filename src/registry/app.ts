/** The registry's HTTP layer: the distribution API under /v2/, the stand-in token endpoint, health. */
import { Elysia } from "elysia";
import type { AuthOptions } from "../http/common.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail } from "./errors.ts";
import { challenge, errorResponse, json } from "./http/respond.ts";
import { dispatch } from "./http/routes.ts";
import { route, type Route } from "./http/router.ts";
import { tokenFor } from "./http/token.ts";

function scopeOf(r: Route | null, method: string): string | undefined {
  if (!r || r.kind === "base") return undefined;
  const push = method !== "GET" && method !== "HEAD";
  return `repository:${r.name}:${push ? "pull,push" : "pull"}`;
}

export function registryApp(d: RegistryDeps, auth: AuthOptions) {
  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    let r: Route | null = null;
    try {
      r = route(url.pathname);
      if (!r) throw fail.unsupported(`no route for ${request.method} ${url.pathname}`, 404);
      return await dispatch(d, { request, url, method: request.method }, r);
    } catch (e) {
      return errorResponse(e, () => challenge(url.origin, scopeOf(r, request.method)), d.log, request.method);
    }
  };
  const maxBody = Math.min(Number.MAX_SAFE_INTEGER, d.limits.maxBlobBytes + 1024 * 1024);
  return new Elysia({ name: "registry", serve: { maxRequestBodySize: maxBody } })
    .get("/healthz", () => ({ ok: true }))
    .get("/token", async ({ request }) => {
      try {
        return json(200, await tokenFor(request, auth));
      } catch (e) {
        return errorResponse(e, () => challenge(new URL(request.url).origin), d.log, "GET");
      }
    })
    .all("/v2", ({ request }) => handle(request), { parse: "none" })
    .all("/v2/*", ({ request }) => handle(request), { parse: "none" });
}
