/**
 * A real registry service for tests: its own nats-server (the token ledger), a temp data dir, a free
 * port, and recorded tokens of any role and org.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats, type NatsServer } from "../../support/nats.ts";
import { recordedToken } from "../../support/tokens.ts";
import { startRegistryService, type RegistryConfig, type RunningRegistry } from "../../../src/registry/server.ts";
import { registrySettings } from "../../../src/registry/config.ts";
import { loadConfig } from "../../../src/core/config/load.ts";
import type { Role } from "../../../src/auth/principal.ts";
import type { StorageConfig } from "../../../src/blobs/backend/open.ts";

export const SECRET = "registry-test-secret-0123456789abcdef";

export interface TestRegistry {
  url: string;
  natsUrl: string;
  /** host:port, as clients name a registry. */
  hostPort: string;
  dir: string;
  running: RunningRegistry;
  nats: NatsServer;
  token(role: Role, org?: string | null): Promise<string>;
  cleanup(): Promise<void>;
}

export interface MirrorOptions {
  upstreams?: string;
  upstreamCredentialsFile?: string;
  mirrorDefault?: string;
  mirrorAnonymous?: boolean;
  mirrorTagTtlSeconds?: number;
  mirrorTimeoutSeconds?: number;
}

/** Filesystem storage, as by default. */
export const FS_STORAGE: StorageConfig = {
  storage: "fs", s3Bucket: "", s3Prefix: "registry/", s3Endpoint: "", s3Region: "us-east-1", s3ForcePathStyle: true,
  s3AccessKeyId: "", s3SecretAccessKey: "", breakerFailures: 3, breakerCooldownMs: 5000,
};

/** A registry's config as its settings' defaults read it, under `overrides` (tests and benchmarks start registries in-process). */
export function registryConfig(overrides: Partial<RegistryConfig>): RegistryConfig {
  return { ...loadConfig(registrySettings, { NIMBUS_AUTH_SECRET: SECRET }), port: 0, natsToken: "", natsUser: "", natsPassword: "", natsReplicas: 1, ...overrides };
}

export async function startTestRegistry(opts: { maxManifestBytes?: number; maxBlobBytes?: number; publicOrgs?: string[]; mirror?: MirrorOptions; orgQuotaBytes?: number; host?: string; config?: Partial<RegistryConfig>; storage?: StorageConfig } = {}): Promise<TestRegistry> {
  const nats: NatsServer = await startNats();
  const dir = mkdtempSync(join(tmpdir(), "nimbus-registry-"));
  const running = await startRegistryService(registryConfig({
    host: opts.host ?? "127.0.0.1", port: 0, dir, ...(opts.storage ?? FS_STORAGE),
    maxManifestBytes: opts.maxManifestBytes ?? 4 * 1024 * 1024, maxBlobBytes: opts.maxBlobBytes ?? 1024 ** 3,
    externalUrl: "", publicOrgs: opts.publicOrgs ?? [], tokenTtlSeconds: 300, metrics: true, orgQuotaBytes: opts.orgQuotaBytes ?? 0,
    upstreams: opts.mirror?.upstreams ?? "", upstreamCredentialsFile: opts.mirror?.upstreamCredentialsFile ?? "",
    mirrorDefault: opts.mirror?.mirrorDefault ?? "", mirrorAnonymous: opts.mirror?.mirrorAnonymous ?? false,
    mirrorTagTtlSeconds: opts.mirror?.mirrorTagTtlSeconds ?? 300, mirrorTimeoutSeconds: opts.mirror?.mirrorTimeoutSeconds ?? 30,
    authSecret: SECRET, natsUrl: nats.url, natsToken: "", natsUser: "", natsPassword: "", natsReplicas: 1,
    ...opts.config,
  }));
  const tokens = new Map<string, string>();
  return {
    url: running.url,
    natsUrl: nats.url,
    hostPort: running.url.replace("http://", ""),
    dir,
    running,
    nats,
    async token(role, org = role === "operator" ? null : "acme") {
      const k = `${role}:${org}`;
      if (!tokens.has(k)) tokens.set(k, await recordedToken(nats.url, SECRET, { sub: `t-${role}-${org}`, role, org: org ?? undefined, ttlSeconds: 3600 }));
      return tokens.get(k)!;
    },
    async cleanup() {
      await running.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** Deterministic pseudo-random bytes. */
export function seeded(seed: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let block = new Bun.CryptoHasher("sha256").update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    block = new Bun.CryptoHasher("sha256").update(block).digest();
  }
  return out;
}
