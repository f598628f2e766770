/** Builds the configured object store (filesystem or S3), behind its circuit breaker. */
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { CircuitBreaker, type BreakerState } from "./breaker.ts";
import { fsStore } from "./fs.ts";
import { guardStore, type GuardedStore } from "./guarded.ts";
import { s3Store } from "./s3.ts";
import type { ObjectStore } from "./types.ts";

/** What src/blobs/settings.ts declares for each service that keeps blobs. */
export interface StorageConfig {
  storage: "fs" | "s3";
  s3Bucket: string;
  s3Prefix: string;
  s3Endpoint: string;
  s3Region: string;
  s3ForcePathStyle: boolean;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  breakerFailures: number;
  breakerCooldownMs: number;
}

export interface OpenOptions {
  /** Root of the filesystem store. */
  dir: string;
  /** Its objects' folder, when not `dir/objects` (see FsStoreOptions). */
  objectsDir?: string;
  /** The service's settings prefix (NIMBUS_CACHE, NIMBUS_REGISTRY), to name a missing setting. */
  envPrefix: string;
}

export function openRawStore(c: StorageConfig, o: OpenOptions): ObjectStore {
  if (c.storage === "fs") return fsStore(o.dir, { objectsDir: o.objectsDir });
  if (!c.s3Bucket) throw new AppError("validation_failed", `${o.envPrefix}_S3_BUCKET: is required when ${o.envPrefix}_STORAGE=s3`);
  return s3Store({
    bucket: c.s3Bucket, prefix: c.s3Prefix, endpoint: c.s3Endpoint, region: c.s3Region, forcePathStyle: c.s3ForcePathStyle,
    accessKeyId: c.s3AccessKeyId, secretAccessKey: c.s3SecretAccessKey,
  });
}

export interface GuardHooks {
  /** "cache storage", "registry storage": names the store in errors and logs. */
  label: string;
  log: Logger;
  onBreakerChange?: (state: BreakerState) => void;
  onBackendError?: (op: string) => void;
}

export function guarded(inner: ObjectStore, c: Pick<StorageConfig, "breakerFailures" | "breakerCooldownMs">, h: GuardHooks): GuardedStore {
  const breaker = new CircuitBreaker({
    failures: c.breakerFailures,
    cooldownMs: c.breakerCooldownMs,
    onChange: (state) => {
      h.onBreakerChange?.(state);
      h.log.warn(`${h.label} breaker changed state`, { state });
    },
  });
  return guardStore(inner, { breaker, label: h.label, probeMs: c.breakerCooldownMs, log: h.log, onBackendError: h.onBackendError });
}

export function openStore(c: StorageConfig, o: OpenOptions, h: GuardHooks): GuardedStore {
  return guarded(openRawStore(c, o), c, h);
}
