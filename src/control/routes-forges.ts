/** Forge (Gitea/Forgejo) routes: the configured connections, for operators; a thin layer over src/gitea. */
import { Elysia } from "elysia";
import { authorize } from "../auth/principal.ts";
import { forgeView } from "../gitea/config.ts";
import type { ControlContext } from "./context.ts";

export function forgeRoutes(ctx: ControlContext) {
  return new Elysia({ name: "forges" }).group("/api", (app) =>
    app
      .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
      // Connections name instances and their organisations across the platform: operators only.
      .get("/forges", ({ principal }) => {
        authorize(principal, "forges:read");
        return { forges: ctx.config.forges.map(forgeView), github: ctx.config.githubWebhookSecret !== "" };
      }),
  );
}
