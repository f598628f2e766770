/**
 * Starts the registry service: the blob store, repository metadata, upload sessions, the token
 * ledger and token flow, the org quotas (watched limits), garbage collection (periodic, and on
 * demand at POST /admin/gc), HTTP.
 */
import { MIRROR_PREFIX } from "./names.ts";
import { join } from "node:path";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { BlobStore } from "../blobs/store.ts";
import { openStore, type StorageConfig } from "../blobs/backend/open.ts";
import { connectNats, natsAuthOf } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { ensureLimitsBucket, ensureTokenLedger } from "../nats/topology.ts";
import { LedgerView } from "../auth/ledger-store.ts";
import { jetstream } from "@nats-io/jetstream";
import { appendAudit } from "../auth/audit.ts";
import { watchedLimit } from "../jobs/limits/store.ts";
import { gcMetrics, mirrorMetrics } from "./metrics-feeds.ts";
import { registryMetrics, watchBlobStore, watchSessions, type RegistryMetrics } from "./metrics.ts";
import { tokenFlowAccess, type Access } from "./access.ts";
import { registryAuthDeps } from "./auth/index.ts";
import { registryApp } from "./app.ts";
import type { registrySettings } from "./config.ts";
import type { RegistryDeps } from "./deps.ts";
import { RepoStore } from "./repos.ts";
import { SessionStore } from "./sessions.ts";
import { createMirror, type Mirror } from "./mirror/mirror.ts";
import { mirrorConfig } from "./mirror/upstreams.ts";
import type { Fetch } from "./mirror/client.ts";
import { Pins } from "./pins.ts";
import { OrgUsage } from "./quota/usage.ts";
import { Quota } from "./quota/quota.ts";
import { evictOrg } from "./gc/evict.ts";
import type { GcDeps } from "./gc/policy.ts";
import { GcRunner } from "./gc/runner.ts";
import { registryGcRoutes } from "./http/gc.ts";

export type RegistryConfig = ConfigOf<typeof registrySettings>;

export interface RunningRegistry {
  url: string;
  deps: RegistryDeps;
  metrics: RegistryMetrics;
  /** Walk the blob store again and reset its gauges (after a garbage collection). */
  recountStore(): Promise<void>;
  /** Garbage collection: `gc.run()` is what POST /admin/gc runs; its report carries the figures for metrics. */
  gc: GcRunner;
  stop(): Promise<void>;
}

/**
 * The stores under the data dir: `blobs/` (shared bytes, or only the temp files of uploads when the
 * blobs are in S3), `repos/` (metadata), `uploads/` (sessions). The blobs' object store is behind a
 * circuit breaker: while it is down, requests that need it get a 503 at once.
 */
export async function openRegistryStores(dir: string, storage: StorageConfig, log: Logger) {
  const root = join(dir, "blobs");
  const objects = openStore(storage, { dir: root, objectsDir: root, envPrefix: "NIMBUS_REGISTRY" }, { label: "registry storage", log });
  return {
    objects,
    blobs: await new BlobStore(root, objects).init(),
    repos: new RepoStore(join(dir, "repos")),
    sessions: await new SessionStore(join(dir, "uploads")).init(),
  };
}

/** The mirror from the settings (a ConfigError naming the key when they are wrong); undefined without upstreams. */
export function registryMirror(config: RegistryConfig, o: { fetch?: Fetch } = {}): Mirror | undefined {
  const mc = mirrorConfig(config);
  return mc.upstreams.size ? createMirror(mc, o) : undefined;
}

export async function startRegistryService(config: RegistryConfig, o: { access?: Access; fetch?: Fetch } = {}): Promise<RunningRegistry> {
  const log = createLogger("registry");
  const mirror = registryMirror(config, o);
  const nc = await connectNats({ url: config.natsUrl, ...natsAuthOf(config), name: "nimbus-registry", inboxPrefix: SERVICE_INBOX.registry });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const auth = registryAuthDeps({ secret: config.authSecret, ledger }, { ...config, mirror: { anonymous: config.mirrorAnonymous, libraryAlias: !!mirror?.config.defaultUpstream } });
  const orgQuota = await watchedLimit(await ensureLimitsBucket(nc, { replicas: config.natsReplicas }), "registryBytes", config.orgQuotaBytes);
  const { objects, ...stores } = await openRegistryStores(config.dir, config, log);
  const usage = new OrgUsage();
  await usage.load(stores.repos);
  stores.repos.observe(usage);
  const pins = new Pins(config.gcGraceSeconds * 1000);
  const policy = { graceMs: config.gcGraceSeconds * 1000, untaggedMs: config.gcUntaggedSeconds * 1000, uploadIdleMs: config.uploadIdleSeconds * 1000 };
  const gcDeps: GcDeps = { ...stores, pins, usage, policy, log };
  // The mirror's cache (repositories mirror/...) has its own budget; every org its quota.
  const limitOf = (org: string) => (org === MIRROR_PREFIX ? config.mirrorMaxBytes : orgQuota.of(org));
  const quota = new Quota({ usage, limitOf, softPercent: config.quotaSoftPercent, makeRoom: async (org, target) => (await evictOrg(gcDeps, org, target)).bytes, log });
  const gc = new GcRunner(gcDeps, quota, log);
  const deps: RegistryDeps = {
    ...stores,
    limits: { maxManifestBytes: config.maxManifestBytes, maxBlobBytes: config.maxBlobBytes },
    access: o.access ?? tokenFlowAccess(auth),
    pins,
    quota,
    log,
    mirror,
  };
  const metrics = registryMetrics(config.metrics);
  const recountStore = await watchBlobStore(metrics, deps.blobs);
  await watchSessions(metrics, deps.sessions);
  const recordGc = gcMetrics(metrics);
  if (mirror) mirrorMetrics(metrics, mirror.stats);
  gc.onReport((report) => {
    recordGc(report);
    if (!report.dryRun) void recountStore().catch((e) => log.warn("recounting the blob store after a collection failed", { error: String(e) }));
  });
  const js = jetstream(nc);
  const admin = { auth: { secret: config.authSecret, ledger }, publicOrgs: auth.publicOrgs, quota: orgQuota.of, audit: (r: Parameters<typeof appendAudit>[1]) => appendAudit(js, r), log };
  const app = registryApp(deps, auth, { admin, metrics, serveMetrics: config.metrics, bindHost: config.host })
    .use(registryGcRoutes(gc, { secret: config.authSecret, ledger }, log))
    .listen({ hostname: config.host, port: config.port, idleTimeout: 120 });
  gc.start(config.gcIntervalSeconds * 1000);
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("registry listening", { url, dir: config.dir, storage: config.storage, mirror: mirror ? [...mirror.config.upstreams.keys()] : [] });
  return {
    url,
    deps,
    metrics,
    recountStore,
    gc,
    async stop() {
      await gc.stop();
      await app.stop(true);
      orgQuota.stop();
      objects.stopProbe();
      await objects.close?.();
      ledger.stop();
      await nc.close();
    },
  };
}
