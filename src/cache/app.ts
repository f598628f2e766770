/** The cache service's HTTP layer: v1 REST, v2 Twirp, signed blob URLs, admin API, health, metrics. */
import type { AuthOptions } from "../http/common.ts";
import { baseApp } from "../http/common.ts";
import { checkMetricsAccess } from "../http/metrics-access.ts";
import { adminRoutes } from "./http/admin.ts";
import { blobRoutes } from "./http/blob.ts";
import type { HttpDeps } from "./http/context.ts";
import { v1Routes } from "./http/v1.ts";
import { v2Routes } from "./http/v2.ts";

export interface CacheAppOptions {
  auth: AuthOptions;
  metrics: boolean;
  /** The address the service listens on: off loopback, /metrics needs a metrics:read token. */
  bindHost: string;
}

export function cacheApp(d: HttpDeps, o: CacheAppOptions) {
  const app = baseApp("cache", { maxBodyBytes: d.limits.maxPartBytes, log: d.log })
    .get("/healthz", () => ({ ok: true }))
    .get("/readyz", async ({ set }) => {
      const healthy = await d.store.healthy();
      if (!healthy) set.status = 503;
      return { ok: healthy, storage: d.store.kind, breaker: d.store.breaker.state };
    })
    .use(v1Routes(d))
    .use(v2Routes(d))
    .use(blobRoutes(d))
    .use(adminRoutes(d, o.auth));
  if (o.metrics)
    app.get("/metrics", async ({ request }) => {
      await checkMetricsAccess(request, o.bindHost, o.auth);
      return new Response(await d.metrics.registry.metrics(), { headers: { "content-type": d.metrics.registry.contentType } });
    });
  return app;
}
