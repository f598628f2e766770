import { baseApp } from "../http/common.ts";
import type { ControlContext } from "./context.ts";
import { jobRoutes } from "./routes-jobs.ts";
import { systemRoutes } from "./routes-system.ts";
import { agentNatsRoutes } from "./routes-agent-nats.ts";
import { agentAdminRoutes, agentEnrollRoutes } from "./routes-agents.ts";
import { githubRoutes, WEBHOOK_MAX_BYTES, WEBHOOK_PATH } from "./routes-github.ts";
import { webRoutes } from "./routes-web.ts";
import { tokenRoutes } from "./routes-tokens.ts";
import { limitRoutes } from "./routes-limits.ts";
import { auditRoutes } from "./routes-audit.ts";
import { registryRoutes } from "./routes-registry.ts";
import { logRoutes } from "./routes-logs.ts";
import { forgeRoutes } from "./routes-forges.ts";

export function controlApp(ctx: ControlContext) {
  return baseApp("control", { maxBodyBytes: ctx.config.maxBodyBytes, log: ctx.log, bodyLimits: { [WEBHOOK_PATH]: WEBHOOK_MAX_BYTES } }).use(webRoutes()).use(systemRoutes(ctx)).use(tokenRoutes(ctx)).use(jobRoutes(ctx))
    .use(githubRoutes(ctx)).use(limitRoutes(ctx)).use(auditRoutes(ctx)).use(registryRoutes(ctx)).use(logRoutes(ctx)).use(agentNatsRoutes(ctx)).use(agentEnrollRoutes(ctx)).use(agentAdminRoutes(ctx))
    .use(forgeRoutes(ctx));
}
