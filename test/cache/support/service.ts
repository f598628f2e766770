/** Starts the real cache service for a test on a free port, with temp dirs, on fs or S3 storage. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../src/core/config/load.ts";
import type { Role } from "../../../src/auth/principal.ts";
import { cacheSettings } from "../../../src/cache/config.ts";
import { startCacheService, type RunningCache } from "../../../src/cache/server.ts";
import { mintRuntimeToken, scopesForRun, type RunScopeInput } from "../../../src/protocol/cache-token.ts";
import { freePort } from "../../support/net.ts";
import { startNats, type NatsServer } from "../../support/nats.ts";
import { recordedToken } from "../../support/tokens.ts";
import type { S3Server } from "./s3.ts";

export const SECRET = "test-secret-for-the-cache-service-0123456789";

export interface TestCache extends RunningCache {
  dir: string;
  /** The nats-server the cache watches (its ledger and the org limits). */
  natsUrl: string;
  /** A job's runtime token; its org is "default" unless named. */
  token(repo: string, run: RunScopeInput, ttlSeconds?: number, org?: string): Promise<string>;
  adminToken(): Promise<string>;
  /** A Nimbus token of `role` in `org` (null for an operator). */
  roleToken(role: Role, org: string | null): Promise<string>;
  cleanup(): Promise<void>;
}

/** The cache watches the token ledger over NATS: a nats-server of its own unless `env` names one. */
export async function startTestCache(opts: { s3?: S3Server; env?: Record<string, string> } = {}): Promise<TestCache> {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-cache-"));
  const nats: NatsServer | undefined = opts.env?.NIMBUS_NATS_URL ? undefined : await startNats();
  const natsUrl = opts.env?.NIMBUS_NATS_URL ?? nats!.url;
  const s3: Record<string, string> = opts.s3
    ? {
        NIMBUS_CACHE_STORAGE: "s3", NIMBUS_CACHE_S3_BUCKET: opts.s3.bucket, NIMBUS_CACHE_S3_ENDPOINT: opts.s3.endpoint,
        NIMBUS_CACHE_S3_ACCESS_KEY_ID: opts.s3.accessKeyId, NIMBUS_CACHE_S3_SECRET_ACCESS_KEY: opts.s3.secretAccessKey,
        NIMBUS_CACHE_S3_PREFIX: `t${Date.now()}/`,
      }
    : {};
  const config = loadConfig(cacheSettings, {
    NIMBUS_CACHE_PORT: String(await freePort()), NIMBUS_CACHE_DB: join(dir, "index.sqlite"), NIMBUS_CACHE_DIR: join(dir, "data"),
    NIMBUS_AUTH_SECRET: SECRET, NIMBUS_METRICS: "true", NIMBUS_NATS_URL: natsUrl, ...s3, ...opts.env,
  });
  const svc = await startCacheService(config);
  return {
    ...svc,
    dir,
    natsUrl,
    token: (repo, run, ttlSeconds = 600, org) => mintRuntimeToken(SECRET, { org, repo, scopes: scopesForRun(run), ttlSeconds }),
    adminToken: () => recordedToken(natsUrl, SECRET, { sub: "admin", role: "operator", ttlSeconds: 600 }),
    roleToken: (role, org) => recordedToken(natsUrl, SECRET, { sub: `${role}-${org}`, role, org, ttlSeconds: 600 }),
    async cleanup() {
      await svc.stop();
      await nats?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
