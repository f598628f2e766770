/**
 * Forge (Gitea/Forgejo) routes: each connection's webhook (records intent only) and the configured
 * connections for operators; a thin layer over src/gitea.
 */
import { Elysia } from "elysia";
import { authorize } from "../auth/principal.ts";
import { AppError } from "../core/errors.ts";
import { readBodyText } from "../http/common.ts";
import { forgeView, type ForgeConnection } from "../gitea/config.ts";
import { intakeForgeDelivery, type ForgeIntakeDeps } from "../gitea/intake.ts";
import { forgeMetrics, type ForgeMetrics } from "../gitea/metrics.ts";
import { checkForgeSignatureHeader, verifyForgeDelivery } from "../gitea/webhook.ts";
import type { ControlContext } from "./context.ts";

/** Gitea's workflow_job payloads are a few KB; the default API body limit (1 MiB) is ample. */
export const FORGE_WEBHOOK_MAX_BYTES = 1024 * 1024;

/** The intake deps and metrics of one control plane, built once (the routes and the poller share them). */
const built = new WeakMap<ControlContext, { deps: ForgeIntakeDeps; metrics: ForgeMetrics }>();
export function forgeIntake(ctx: ControlContext) {
  const have = built.get(ctx);
  if (have) return have;
  const metrics = forgeMetrics(ctx.metrics.registry);
  const deps: ForgeIntakeDeps = {
    store: ctx.store,
    deliveries: ctx.topology.ghDeliveries,
    limiter: ctx.admission,
    labels: ctx.submitDeps.labels,
    config: ctx.config,
    maxAttempts: ctx.config.maxAttempts,
    log: ctx.log.child({ part: "forges" }),
    count: (f, outcome) => metrics.webhook(f, outcome),
  };
  built.set(ctx, { deps, metrics });
  return { deps, metrics };
}

export function forgeRoutes(ctx: ControlContext) {
  const byId = new Map<string, ForgeConnection>(ctx.config.forges.map((f) => [f.id, f]));
  const { deps } = forgeIntake(ctx);
  return new Elysia({ name: "forges" })
    .post(
      "/webhooks/forge/:id",
      async ({ params, request, set }) => {
        const forge = byId.get(params.id);
        if (!forge) throw new AppError("not_found", "no forge connection of that id (NIMBUS_FORGES)");
        checkForgeSignatureHeader(request.headers, forge.kind); // 401 before a byte of an unsigned body is read
        const body = await readBodyText(request, FORGE_WEBHOOK_MAX_BYTES);
        const r = await intakeForgeDelivery(deps, forge, verifyForgeDelivery(forge, request.headers, body));
        set.status = r.status;
        return r.body;
      },
      { parse: "none" },
    )
    .group("/api", (app) =>
      app
        .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
        // Connections name instances and their organisations across the platform: operators only.
        .get("/forges", ({ principal }) => {
          authorize(principal, "forges:read");
          return { forges: ctx.config.forges.map(forgeView), github: ctx.config.githubWebhookSecret !== "" };
        }),
    );
}
