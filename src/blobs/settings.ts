/**
 * The storage settings of a service that keeps blobs (the cache, the registry), declared once here
 * and spread into each service's settings under its own prefix: NIMBUS_CACHE_STORAGE,
 * NIMBUS_REGISTRY_S3_BUCKET, ... (src/core/config/settings.ts style).
 */
import { bool, int, oneOf, optionalStr, str, type SettingsSpec } from "../core/config/settings.ts";

export interface StorageSettingsOptions {
  /** NIMBUS_CACHE, NIMBUS_REGISTRY. */
  prefix: string;
  /** What is stored, for the docs: "archives", "blobs". */
  what: string;
  /** Default key prefix inside the bucket. */
  s3Prefix: string;
}

export function storageSettings(o: StorageSettingsOptions) {
  const p = o.prefix;
  return {
    storage: { env: `${p}_STORAGE`, doc: `Where ${o.what} are stored: fs or s3.`, schema: oneOf(["fs", "s3"] as const), default: "fs" },
    s3Bucket: { env: `${p}_S3_BUCKET`, doc: `Bucket for ${o.what} when ${p}_STORAGE=s3.`, schema: optionalStr(), default: "" },
    s3Prefix: { env: `${p}_S3_PREFIX`, doc: "Key prefix inside the bucket.", schema: optionalStr(), default: o.s3Prefix },
    s3Endpoint: { env: `${p}_S3_ENDPOINT`, doc: "S3 endpoint URL (empty: AWS).", schema: optionalStr(), default: "" },
    s3Region: { env: `${p}_S3_REGION`, doc: "S3 region.", schema: str(), default: "us-east-1" },
    s3ForcePathStyle: { env: `${p}_S3_FORCE_PATH_STYLE`, doc: "Path-style bucket addressing.", schema: bool(), default: "true" },
    s3AccessKeyId: { env: `${p}_S3_ACCESS_KEY_ID`, doc: "S3 access key id (empty: the SDK's default chain).", schema: optionalStr(), default: "" },
    s3SecretAccessKey: { env: `${p}_S3_SECRET_ACCESS_KEY`, doc: "S3 secret key.", schema: optionalStr(), default: "", secret: true },
    breakerFailures: { env: `${p}_BREAKER_FAILURES`, doc: "Consecutive storage failures that open the circuit breaker.", schema: int(1, 100), default: "3" },
    breakerCooldownMs: { env: `${p}_BREAKER_COOLDOWN_MS`, doc: "While open, the breaker probes storage this often.", schema: int(100, 600_000), default: "5000" },
  } satisfies SettingsSpec;
}
