/** The registry's HTTP layer: the token endpoint (`/v2/token`), the distribution API under /v2/ (the mirror's names to the mirror), health. */
import { Elysia } from "elysia";
import { challengeFor, registryAuthRoutes, tokenRealm, type RegistryAuthDeps } from "./auth/index.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail } from "./errors.ts";
import { errorResponse } from "./http/respond.ts";
import { dispatch } from "./http/routes.ts";
import { route, type Route } from "./http/router.ts";
import { isMirrorName } from "./mirror/mirror.ts";
import { mirrorDispatch } from "./mirror/routes.ts";

function scopeOf(r: Route | null, method: string): string | undefined {
  if (!r || r.kind === "base") return undefined;
  const push = method !== "GET" && method !== "HEAD";
  return `repository:${r.name}:${push ? "pull,push" : "pull"}`;
}

export function registryApp(d: RegistryDeps, auth: RegistryAuthDeps) {
  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    let r: Route | null = null;
    try {
      r = route(url.pathname);
      if (!r) throw fail.unsupported(`no route for ${request.method} ${url.pathname}`, 404);
      const call = { request, url, method: request.method };
      if (r.kind !== "base" && isMirrorName(d.mirror, r.name)) return await mirrorDispatch(d, call, r);
      return await dispatch(d, call, r);
    } catch (e) {
      // The access check's errors carry their own challenge; this one is for any other 401.
      return errorResponse(e, () => challengeFor(tokenRealm(auth, request), scopeOf(r, request.method)), d.log, request.method);
    }
  };
  const maxBody = Math.min(Number.MAX_SAFE_INTEGER, d.limits.maxBlobBytes + 1024 * 1024);
  return new Elysia({ name: "registry", serve: { maxRequestBodySize: maxBody } })
    .get("/healthz", () => ({ ok: true }))
    // Mounted before the catch-all, so `/v2/token` is the token endpoint, never a repository path.
    .use(registryAuthRoutes(auth, d.log))
    .all("/v2", ({ request }) => handle(request), { parse: "none" })
    .all("/v2/*", ({ request }) => handle(request), { parse: "none" });
}
