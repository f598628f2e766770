/** Starts the cache service: index, storage behind its breaker, HTTP, and the periodic sweeper. */
import type { ConfigOf } from "../core/config/settings.ts";
import { hostname } from "node:os";
import { createLogger } from "../core/log.ts";
import { cacheApp } from "./app.ts";
import type { cacheSettings } from "./config.ts";
import type { HttpDeps } from "./http/context.ts";
import { sweep } from "./eviction.ts";
import { CacheIndex } from "./index-db.ts";
import { cacheMetrics } from "./metrics.ts";
import { UrlSigner } from "./signing.ts";
import { openStore } from "../blobs/backend/open.ts";
import { BlockPlacer } from "./placement.ts";
import { connectNats, natsAuthOf } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { ensureCacheEntriesBucket, ensureLimitsBucket, ensureTokenLedger } from "../nats/topology.ts";
import { SharedEntries } from "./shared/entries.ts";
import { PeerReader } from "./shared/peers.ts";
import { watchedLimit } from "../jobs/limits/store.ts";
import { LedgerView } from "../auth/ledger-store.ts";

export type CacheConfig = ConfigOf<typeof cacheSettings>;

export interface RunningCache {
  url: string;
  deps: HttpDeps;
  stop(): Promise<void>;
}

export async function startCacheService(config: CacheConfig): Promise<RunningCache> {
  const log = createLogger("cache");
  const nc = await connectNats({ url: config.natsUrl, ...natsAuthOf(config), name: "nimbus-cache", inboxPrefix: SERVICE_INBOX.cache });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const orgQuota = await watchedLimit(await ensureLimitsBucket(nc, { replicas: config.natsReplicas }), "cacheBytes", config.orgQuotaBytes);
  const metrics = cacheMetrics(config.metrics);
  const store = openStore(config, { dir: config.dir, envPrefix: "NIMBUS_CACHE" }, {
    label: "cache storage", log,
    onBreakerChange: (state) => metrics.setBreaker(state),
    onBackendError: (op) => metrics.backendErrors.inc({ op }),
  });
  const index = new CacheIndex(config.dbPath);
  const signer = new UrlSigner(config.authSecret, config.urlTtlSeconds);
  // This replica's name in the shared index: where the others fetch the archives on its disk.
  // Bound to every address, the host's name is the best guess; a fleet sets NIMBUS_CACHE_PEER_URL.
  const reachableHost = ["0.0.0.0", "::", "[::]"].includes(config.host) ? hostname() : config.host;
  const self = { home: (config.peerUrl || `http://${reachableHost}:${config.port}`).replace(/\/+$/, ""), shared: config.storage === "s3" };
  const entries = await SharedEntries.start({
    kv: await ensureCacheEntriesBucket(nc, { replicas: config.natsReplicas }), index, self, log, now: Date.now,
    deleteObjects: (objects) => store.delete(objects),
  });
  const deps: HttpDeps = {
    index, entries, peers: new PeerReader(signer, log), store, metrics, log, now: Date.now, placer: new BlockPlacer(),
    signer,
    limits: config,
    orgQuota: orgQuota.of,
    secret: config.authSecret,
    publicUrl: config.publicUrl,
    trustForwarded: config.trustForwarded,
  };
  const app = cacheApp(deps, { auth: { secret: config.authSecret, ledger }, metrics: config.metrics, bindHost: config.host }).listen({
    hostname: config.host,
    port: config.port,
    maxRequestBodySize: config.maxPartBytes + 1024,
    idleTimeout: 120,
  });
  const url = `http://${config.host}:${app.server!.port}`;
  const timer = setInterval(() => {
    sweep(deps).then(
      (r) => (r.unused || r.abandoned || r.failed) && log.info("cache sweep", { ...r }),
      (e) => log.warn("cache sweep failed", { error: e }),
    );
  }, config.sweepSeconds * 1000);
  timer.unref?.();
  log.info("cache service listening", { url, storage: config.storage });
  return {
    url,
    deps,
    async stop() {
      clearInterval(timer);
      store.stopProbe();
      await app.stop(true);
      await store.close?.();
      entries.stop();
      index.close();
      ledger.stop();
      orgQuota.stop();
      await nc.close();
    },
  };
}
