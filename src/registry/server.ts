/**
 * Starts the registry service: the blob store, repository metadata, upload sessions, the token
 * ledger and token flow, the org quotas (watched limits), garbage collection (periodic, and on
 * demand at POST /admin/gc), HTTP.
 */
import { join } from "node:path";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger } from "../core/log.ts";
import { BlobStore } from "../blobs/store.ts";
import { connectNats } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { ensureLimitsBucket, ensureTokenLedger } from "../nats/topology.ts";
import { watchedLimit } from "../jobs/limits/store.ts";
import { LedgerView } from "../auth/ledger-store.ts";
import { tokenFlowAccess, type Access } from "./access.ts";
import { registryAuthDeps } from "./auth/index.ts";
import { registryApp } from "./app.ts";
import type { registrySettings } from "./config.ts";
import type { RegistryDeps } from "./deps.ts";
import { RepoStore } from "./repos.ts";
import { SessionStore } from "./sessions.ts";
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
  /** Garbage collection: `gc.run()` is what POST /admin/gc runs; its report carries the figures for metrics. */
  gc: GcRunner;
  stop(): Promise<void>;
}

/** The stores under the data dir: `blobs/` (shared bytes), `repos/` (metadata), `uploads/` (sessions). */
export async function openRegistryStores(dir: string) {
  return {
    blobs: await new BlobStore(join(dir, "blobs")).init(),
    repos: new RepoStore(join(dir, "repos")),
    sessions: await new SessionStore(join(dir, "uploads")).init(),
  };
}

export async function startRegistryService(config: RegistryConfig, o: { access?: Access } = {}): Promise<RunningRegistry> {
  const log = createLogger("registry");
  const nc = await connectNats({ url: config.natsUrl, user: config.natsUser, password: config.natsPassword, token: config.natsToken, name: "nimbus-registry", inboxPrefix: SERVICE_INBOX.registry });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const auth = registryAuthDeps({ secret: config.authSecret, ledger }, config);
  const orgQuota = await watchedLimit(await ensureLimitsBucket(nc, { replicas: config.natsReplicas }), "registryBytes", config.orgQuotaBytes);
  const stores = await openRegistryStores(config.dir);
  const usage = new OrgUsage();
  await usage.load(stores.repos);
  stores.repos.observe(usage);
  const pins = new Pins(config.gcGraceSeconds * 1000);
  const policy = { graceMs: config.gcGraceSeconds * 1000, untaggedMs: config.gcUntaggedSeconds * 1000, uploadIdleMs: config.uploadIdleSeconds * 1000 };
  const gcDeps: GcDeps = { ...stores, pins, usage, policy, log };
  const quota = new Quota({ usage, limitOf: orgQuota.of, softPercent: config.quotaSoftPercent, makeRoom: async (org, target) => (await evictOrg(gcDeps, org, target)).bytes, log });
  const gc = new GcRunner(gcDeps, quota, log);
  const deps: RegistryDeps = {
    ...stores,
    limits: { maxManifestBytes: config.maxManifestBytes, maxBlobBytes: config.maxBlobBytes },
    access: o.access ?? tokenFlowAccess(auth),
    pins,
    quota,
    log,
  };
  const app = registryApp(deps, auth)
    .use(registryGcRoutes(gc, { secret: config.authSecret, ledger }, log))
    .listen({ hostname: config.host, port: config.port, idleTimeout: 120 });
  gc.start(config.gcIntervalSeconds * 1000);
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("registry listening", { url, dir: config.dir });
  return {
    url,
    deps,
    gc,
    async stop() {
      await gc.stop();
      await app.stop(true);
      orgQuota.stop();
      ledger.stop();
      await nc.close();
    },
  };
}
