/**
 * One in-process stack for the tenant matrix: a real nats-server, the control plane (with a GitHub
 * webhook secret, so /webhooks/github is mounted, bound to 0.0.0.0 so /metrics needs a token), the
 * log service, the cache service and the registry (bound to 0.0.0.0 too), all sharing one auth
 * secret and one token ledger. Also the state a denied call must leave alone, as one comparable snapshot.
 */
import { createAccount } from "@nats-io/nkeys";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats, type NatsServer } from "../../support/nats.ts";
import { freePort } from "../../support/net.ts";
import { startTestCache, SECRET, type TestCache } from "../../cache/support/service.ts";
import { loadConfig } from "../../../src/core/config/load.ts";
import { controlSettings } from "../../../src/control/config.ts";
import { startControlPlane, type RunningControlPlane } from "../../../src/control/server.ts";
import { logSettings } from "../../../src/logs/config.ts";
import { startLogService } from "../../../src/logs/server.ts";
import { connectNats } from "../../../src/nats/connect.ts";
import { startRegistryService, type RunningRegistry } from "../../../src/registry/server.ts";
import { registryConfig } from "../../registry/support/service.ts";

export const AUTH = SECRET;
export const WEBHOOK_SECRET = "webhook-secret-for-the-matrix-0123456789";

export interface MatrixStack {
  nats: NatsServer;
  control: RunningControlPlane;
  controlUrl: string;
  logsUrl: string;
  cache: TestCache;
  cacheUrl: string;
  registry: RunningRegistry;
  registryUrl: string;
  /** The registry's data dir (repos/, blobs/). */
  registryDir: string;
  /** Every JetStream stream's message count and last sequence (KV buckets are streams: any write moves them). */
  streams(): Promise<Record<string, { messages: number; last: number }>>;
  stop(): Promise<void>;
}

const local = (url: string) => url.replace("0.0.0.0", "127.0.0.1");

export async function startMatrixStack(): Promise<MatrixStack> {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-matrix-"));
  const nats = await startNats();
  const registryDir = join(dir, "registry");
  const registry = await startRegistryService(registryConfig({
    host: "0.0.0.0", port: 0, dir: registryDir, maxManifestBytes: 4 * 1024 * 1024, maxBlobBytes: 1024 ** 3,
    externalUrl: "", publicOrgs: [], tokenTtlSeconds: 300, metrics: true, orgQuotaBytes: 0,
    authSecret: AUTH, natsUrl: nats.url, natsToken: "", natsUser: "", natsPassword: "", natsReplicas: 1,
  }));
  const logs = await startLogService(
    loadConfig(logSettings, { NIMBUS_NATS_URL: nats.url, NIMBUS_AUTH_SECRET: AUTH, NIMBUS_LOGS_HOST: "0.0.0.0", NIMBUS_LOGS_PORT: String(await freePort()), NIMBUS_LOGS_DB: join(dir, "logs.sqlite") }),
  );
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const control = await startControlPlane(
    loadConfig(controlSettings, {
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_AUTH_SECRET: AUTH,
      NIMBUS_SECRETS_KEY: Buffer.alloc(32, 7).toString("base64url"),
      NIMBUS_CONTROL_HOST: "0.0.0.0",
      NIMBUS_CONTROL_PORT: String(await freePort()),
      NIMBUS_LOGS_URL: local(logs.url),
      NIMBUS_REGISTRY_URL: local(registry.url),
      // Nothing in the background writes while the matrix compares state.
      NIMBUS_SWEEP_INTERVAL_MS: "600000",
      NIMBUS_GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // An account to mint agents' NATS users with (POST /api/agents/nats-credentials answers).
      NIMBUS_NATS_ACCOUNT_SEED: new TextDecoder().decode(createAccount().getSeed()),
      NIMBUS_GITHUB_APP_ID: "1",
      NIMBUS_GITHUB_APP_PRIVATE_KEY: key,
      NIMBUS_GITHUB_API_URL: "http://127.0.0.1:9",
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "3600000",
    }),
  );
  const cache = await startTestCache({ env: { NIMBUS_NATS_URL: nats.url, NIMBUS_CACHE_HOST: "0.0.0.0" } });
  const nc = await connectNats({ url: nats.url, name: "test-matrix" });
  const jsm = await jetstreamManager(nc);
  return {
    nats, control, cache,
    controlUrl: local(control.url),
    logsUrl: local(logs.url),
    cacheUrl: local(cache.url),
    registry,
    registryUrl: local(registry.url),
    registryDir,
    async streams() {
      const out: Record<string, { messages: number; last: number }> = {};
      for await (const si of jsm.streams.list()) out[si.config.name] = { messages: si.state.messages, last: si.state.last_seq };
      return out;
    },
    async stop() {
      await nc.close();
      await cache.cleanup();
      await registry.stop();
      await control.stop();
      await logs.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
