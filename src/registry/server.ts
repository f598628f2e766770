/** Starts the registry service: the blob store, repository metadata, upload sessions, the token ledger and token flow, HTTP. */
import { join } from "node:path";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { BlobStore } from "../blobs/store.ts";
import { openStore, type StorageConfig } from "../blobs/backend/open.ts";
import { connectNats } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { ensureTokenLedger } from "../nats/topology.ts";
import { LedgerView } from "../auth/ledger-store.ts";
import { tokenFlowAccess, type Access } from "./access.ts";
import { registryAuthDeps } from "./auth/index.ts";
import { registryApp } from "./app.ts";
import type { registrySettings } from "./config.ts";
import type { RegistryDeps } from "./deps.ts";
import { RepoStore } from "./repos.ts";
import { SessionStore } from "./sessions.ts";

export type RegistryConfig = ConfigOf<typeof registrySettings>;

export interface RunningRegistry {
  url: string;
  deps: RegistryDeps;
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

export async function startRegistryService(config: RegistryConfig, o: { access?: Access } = {}): Promise<RunningRegistry> {
  const log = createLogger("registry");
  const nc = await connectNats({ url: config.natsUrl, user: config.natsUser, password: config.natsPassword, token: config.natsToken, name: "nimbus-registry", inboxPrefix: SERVICE_INBOX.registry });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const auth = registryAuthDeps({ secret: config.authSecret, ledger }, config);
  const { objects, ...stores } = await openRegistryStores(config.dir, config, log);
  const deps: RegistryDeps = {
    ...stores,
    limits: { maxManifestBytes: config.maxManifestBytes, maxBlobBytes: config.maxBlobBytes },
    access: o.access ?? tokenFlowAccess(auth),
    log,
  };
  const app = registryApp(deps, auth).listen({ hostname: config.host, port: config.port, idleTimeout: 120 });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("registry listening", { url, dir: config.dir, storage: config.storage });
  return {
    url,
    deps,
    async stop() {
      await app.stop(true);
      objects.stopProbe();
      await objects.close?.();
      ledger.stop();
      await nc.close();
    },
  };
}
