/**
 * Per-organisation limits: GET /api/limits (operators: the defaults and every override; others:
 * their own org's), GET /api/orgs/:org/limits (operators any org, org-admins their own), and
 * PUT /api/orgs/:org/limits (operators; audited). A thin layer over src/jobs/limits.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { authorize, isOrgId } from "../auth/principal.ts";
import { parseLimitsPatch } from "../jobs/limits/values.ts";
import { parseJsonBody, readBodyText } from "../http/common.ts";
import { audited, remoteOf } from "./audit.ts";
import type { ControlContext } from "./context.ts";

function orgParam(org: string): string {
  if (!isOrgId(org)) throw new AppError("not_found", `organisation ${JSON.stringify(String(org).slice(0, 100))} not found`);
  return org;
}

export function limitRoutes(ctx: ControlContext) {
  return new Elysia({ name: "limits" })
    .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
    .get("/api/limits", async ({ principal }) => {
      authorize(principal, "limits:read");
      if (principal.role !== "operator") return { defaults: ctx.limits.defaults, orgs: { [principal.org!]: await ctx.limits.read(principal.org!) } };
      return { defaults: ctx.limits.defaults, orgs: Object.fromEntries(ctx.limits.overridden().map((org) => [org, { override: ctx.limits.overrideOf(org), limits: ctx.limits.for(org) }])) };
    })
    .get("/api/orgs/:org/limits", async ({ params, principal }) => {
      const org = orgParam(params.org);
      authorize(principal, "limits:read", { org, what: `organisation ${org}` });
      return { org, defaults: ctx.limits.defaults, ...(await ctx.limits.read(org)) };
    })
    .put(
      "/api/orgs/:org/limits",
      async ({ params, principal, request, server }) => {
        const org = orgParam(params.org);
        authorize(principal, "limits:write", { org, what: `organisation ${org}` });
        const patch = parseLimitsPatch(parseJsonBody(await readBodyText(request, ctx.config.maxBodyBytes)));
        const changed = await audited(ctx, { principal, action: "limits.set", org, target: org, remote: remoteOf(server, request), detail: (r) => r }, () => ctx.limits.set(org, patch));
        return { org, defaults: ctx.limits.defaults, override: changed.after, limits: { ...ctx.limits.defaults, ...changed.after } };
      },
      { parse: "none" },
    );
}
