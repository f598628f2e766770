/** Starts the registry service: the blob store, repository metadata, upload sessions, the token ledger and token flow, HTTP. */
import { join } from "node:path";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger } from "../core/log.ts";
import { BlobStore } from "../blobs/store.ts";
import { connectNats } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { ensureLimitsBucket, ensureTokenLedger } from "../nats/topology.ts";
import { LedgerView } from "../auth/ledger-store.ts";
import { jetstream } from "@nats-io/jetstream";
import { appendAudit } from "../auth/audit.ts";
import { watchedLimit } from "../jobs/limits/store.ts";
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

export type RegistryConfig = ConfigOf<typeof registrySettings>;

export interface RunningRegistry {
  url: string;
  deps: RegistryDeps;
  metrics: RegistryMetrics;
  /** Walk the blob store again and reset its gauges (after a garbage collection). */
  recountStore(): Promise<void>;
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

/** The mirror from the settings (a ConfigError naming the key when they are wrong); undefined without upstreams. */
export function registryMirror(config: RegistryConfig, o: { fetch?: Fetch } = {}): Mirror | undefined {
  const mc = mirrorConfig(config);
  return mc.upstreams.size ? createMirror(mc, o) : undefined;
}

export async function startRegistryService(config: RegistryConfig, o: { access?: Access; fetch?: Fetch } = {}): Promise<RunningRegistry> {
  const log = createLogger("registry");
  const mirror = registryMirror(config, o);
  const nc = await connectNats({ url: config.natsUrl, user: config.natsUser, password: config.natsPassword, token: config.natsToken, name: "nimbus-registry", inboxPrefix: SERVICE_INBOX.registry });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const auth = registryAuthDeps({ secret: config.authSecret, ledger }, { ...config, mirror: { anonymous: config.mirrorAnonymous, libraryAlias: !!mirror?.config.defaultUpstream } });
  const deps: RegistryDeps = {
    ...(await openRegistryStores(config.dir)),
    limits: { maxManifestBytes: config.maxManifestBytes, maxBlobBytes: config.maxBlobBytes },
    access: o.access ?? tokenFlowAccess(auth),
    log,
    mirror,
  };
  const metrics = registryMetrics(config.metrics);
  const recountStore = await watchBlobStore(metrics, deps.blobs);
  await watchSessions(metrics, deps.sessions);
  const quota = await watchedLimit(await ensureLimitsBucket(nc, { replicas: config.natsReplicas }), "registryBytes", config.orgQuotaBytes);
  const js = jetstream(nc);
  const admin = { auth: { secret: config.authSecret, ledger }, publicOrgs: auth.publicOrgs, quota: quota.of, audit: (r: Parameters<typeof appendAudit>[1]) => appendAudit(js, r), log };
  const app = registryApp(deps, auth, { admin, metrics, serveMetrics: config.metrics, bindHost: config.host }).listen({ hostname: config.host, port: config.port, idleTimeout: 120 });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("registry listening", { url, dir: config.dir, mirror: mirror ? [...mirror.config.upstreams.keys()] : [] });
  return {
    url,
    deps,
    metrics,
    recountStore,
    async stop() {
      await app.stop(true);
      ledger.stop();
      quota.stop();
      await nc.close();
    },
  };
}
