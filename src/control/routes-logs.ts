/**
 * Log search across an organisation's jobs, relayed from the log service with the caller's token (which
 * the log service checks again and scopes by), so the dashboard needs one origin.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import type { ControlContext } from "./context.ts";

const MAX_QUERY = 4096;

async function relay(ctx: ControlContext, what: "search" | "histogram", request: Request): Promise<Response> {
  await ctx.principal(request); // a bad token stops here, before anything is relayed
  const search = new URL(request.url).search;
  if (search.length > MAX_QUERY) throw new AppError("bad_request", `the query is over ${MAX_QUERY} characters`);
  const base = ctx.config.logsUrl.replace(/\/+$/, "");
  const res = await fetch(`${base}/v1/logs/${what}${search}`, { headers: { authorization: request.headers.get("authorization") ?? "" }, signal: AbortSignal.timeout(30_000) }).catch((e: Error) => {
    throw new AppError("unavailable", `the log service at ${base} cannot be reached: ${e.message}`);
  });
  return new Response(res.body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
}

export function logRoutes(ctx: ControlContext) {
  return new Elysia({ name: "logs" })
    .get("/api/logs/search", ({ request }) => relay(ctx, "search", request))
    .get("/api/logs/histogram", ({ request }) => relay(ctx, "histogram", request));
}
