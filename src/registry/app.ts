/** The registry's HTTP layer: the token endpoint (`/v2/token`), the distribution API under /v2/ (the mirror's names to the mirror), health; with `ops`, the admin API and /metrics. */
import { Elysia } from "elysia";
import { isAppError } from "../core/errors.ts";
import { checkMetricsAccess } from "../http/metrics-access.ts";
import { registryAdminRoutes, type AdminDeps } from "./http/admin.ts";
import { observeResponse, routeClassOf, type RegistryMetrics } from "./metrics.ts";
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

/** Operations: the admin API's deps, the metrics (served at /metrics when `serveMetrics`), and the listen address (off loopback, /metrics needs a metrics:read token). */
export interface RegistryOps {
  admin: AdminDeps;
  metrics: RegistryMetrics;
  serveMetrics: boolean;
  bindHost: string;
}

export function registryApp(d: RegistryDeps, auth: RegistryAuthDeps, ops?: RegistryOps) {
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
  const app = new Elysia({ name: "registry", serve: { maxRequestBodySize: maxBody } });
  if (ops)
    app.mapResponse({ as: "global" }, ({ request, response }) => {
      if (response instanceof Response) observeResponse(ops.metrics, routeClassOf(new URL(request.url).pathname, route), request.method, response);
    });
  app
    .get("/healthz", () => ({ ok: true }))
    // Mounted before the catch-all, so `/v2/token` is the token endpoint, never a repository path.
    .use(registryAuthRoutes(auth, d.log))
    .all("/v2", ({ request }) => handle(request), { parse: "none" })
    .all("/v2/*", ({ request }) => handle(request), { parse: "none" });
  if (!ops) return app;
  app.use(registryAdminRoutes(d, ops.admin));
  if (!ops.serveMetrics) return app;
  return app.get("/metrics", async ({ request }) => {
    try {
      await checkMetricsAccess(request, ops.bindHost, ops.admin.auth);
    } catch (e) {
      if (!isAppError(e)) throw e;
      return new Response(JSON.stringify(e.toJSON()), { status: e.status, headers: { "content-type": "application/json" } });
    }
    return new Response(await ops.metrics.registry.metrics(), { headers: { "content-type": ops.metrics.registry.contentType } });
  });
}
