import { baseApp } from "../http/common.ts";
import type { ControlContext } from "./context.ts";
import { jobRoutes } from "./routes-jobs.ts";
import { systemRoutes } from "./routes-system.ts";

export function controlApp(ctx: ControlContext) {
  return baseApp("control", { maxBodyBytes: ctx.config.maxBodyBytes, log: ctx.log }).use(systemRoutes(ctx)).use(jobRoutes(ctx));
}
