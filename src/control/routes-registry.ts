/**
 * The registry's overview through the public API, for the dashboard: `GET /api/registry/usage` and
 * `GET /api/registry/repositories` are relayed to the registry's admin API (src/registry/http/admin.ts)
 * with the caller's own token, so the registry decides what the caller sees (its org; an operator's
 * every org or `?org=`). The caller is authenticated here first: this is no open proxy.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import type { ControlContext } from "./context.ts";

const MAX_QUERY = 2048;

async function relay(ctx: ControlContext, what: "usage" | "repositories", request: Request): Promise<Response> {
  await ctx.principal(request);
  const base = ctx.config.registryUrl.replace(/\/+$/, "");
  if (!base) throw new AppError("unavailable", "the control plane does not know the registry: set NIMBUS_REGISTRY_URL");
  const search = new URL(request.url).search;
  if (search.length > MAX_QUERY) throw new AppError("bad_request", `the query is over ${MAX_QUERY} characters`);
  const res = await fetch(`${base}/v1/registry/${what}${search}`, { headers: { authorization: request.headers.get("authorization") ?? "" }, signal: AbortSignal.timeout(10_000) }).catch((e: Error) => {
    throw new AppError("unavailable", `the registry at ${base} cannot be reached: ${e.message}`);
  });
  return new Response(res.body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
}

export function registryRoutes(ctx: ControlContext) {
  return new Elysia({ name: "registry-relay" })
    .get("/api/registry/usage", ({ request }) => relay(ctx, "usage", request))
    .get("/api/registry/repositories", ({ request }) => relay(ctx, "repositories", request));
}
