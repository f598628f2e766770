/** Builds the configured store, behind the circuit breaker. */
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { CircuitBreaker } from "./breaker.ts";
import { fsStore } from "./fs.ts";
import { guardStore, type GuardedStore } from "./guarded.ts";
import { s3Store } from "./s3.ts";
import type { BlobStore } from "./types.ts";
import type { CacheMetrics } from "../metrics.ts";

export interface StorageConfig {
  storage: "fs" | "s3";
  dir: string;
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

export function openRawStore(c: StorageConfig): BlobStore {
  if (c.storage === "fs") return fsStore(c.dir);
  if (!c.s3Bucket) throw new AppError("validation_failed", "NIMBUS_CACHE_S3_BUCKET: is required when NIMBUS_CACHE_STORAGE=s3");
  return s3Store({
    bucket: c.s3Bucket, prefix: c.s3Prefix, endpoint: c.s3Endpoint, region: c.s3Region, forcePathStyle: c.s3ForcePathStyle,
    accessKeyId: c.s3AccessKeyId, secretAccessKey: c.s3SecretAccessKey,
  });
}

export function openStore(c: StorageConfig, log: Logger, metrics: CacheMetrics): GuardedStore {
  const breaker = new CircuitBreaker({
    failures: c.breakerFailures,
    cooldownMs: c.breakerCooldownMs,
    onChange: (state) => {
      metrics.setBreaker(state);
      log.warn("cache storage breaker changed state", { state });
    },
  });
  return guardStore(openRawStore(c), { breaker, probeMs: c.breakerCooldownMs, log, onBackendError: (op) => metrics.backendErrors.inc({ op }) });
}
