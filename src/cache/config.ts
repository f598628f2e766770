/** Settings of the cache service process, declared once (see src/core/config/settings.ts). */
import { authSecret, host, listenPort, metricsEnabled, natsReplicas, natsToken, natsUrl, natsUser, natsPassword, natsJwt, natsSeed } from "../core/config/common.ts";
import { orgCacheQuotaSetting } from "../jobs/limits/config.ts";
import { bool, int, optionalStr, str, type SettingsSpec } from "../core/config/settings.ts";
import { storageSettings } from "../blobs/settings.ts";

const GiB = 1024 ** 3;
const bytes = (env: string, doc: string, dflt: number) => ({ env, doc, schema: int(0, Number.MAX_SAFE_INTEGER), default: String(dflt) });

export const cacheSettings = {
  host: host("NIMBUS_CACHE_HOST", "Address the cache service listens on."),
  port: listenPort("NIMBUS_CACHE_PORT", "Port of the cache service.", 7074),
  publicUrl: {
    env: "NIMBUS_CACHE_PUBLIC_URL",
    doc: "Origin put into signed blob URLs (e.g. http://10.0.0.1:7072). Empty: the origin the request came in on.",
    schema: optionalStr(),
    default: "",
  },
  trustForwarded: {
    env: "NIMBUS_CACHE_TRUST_FORWARDED",
    doc: "Honour X-Forwarded-Host/-Proto from a trusted front (the results-host gateway) when building blob URLs.",
    schema: bool(),
    default: "false",
  },
  peerUrl: {
    env: "NIMBUS_CACHE_PEER_URL",
    doc: "URL other cache replicas reach this one at, to fetch the archives on this host's disk (fs storage); it names this replica in the shared index. Empty: http://HOST:PORT.",
    schema: optionalStr(),
    default: "",
  },
  dbPath: { env: "NIMBUS_CACHE_DB", doc: "SQLite file holding this replica's copy of the cache index (the index itself is in NATS, shared by every replica).", schema: str(), default: ".nimbus/cache.sqlite" },
  ...storageSettings({ prefix: "NIMBUS_CACHE", what: "archives", s3Prefix: "actions-cache/" }),
  dir: { env: "NIMBUS_CACHE_DIR", doc: "Directory for archives when NIMBUS_CACHE_STORAGE=fs.", schema: str(), default: ".nimbus/cache" },
  authSecret,
  // The token ledger (revocations) is watched over NATS.
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsJwt,
  natsSeed,
  natsReplicas,
  metrics: metricsEnabled,
  maxEntryBytes: bytes("NIMBUS_CACHE_MAX_ENTRY_BYTES", "Largest archive accepted.", 10 * GiB),
  maxPartBytes: bytes("NIMBUS_CACHE_MAX_PART_BYTES", "Largest single request body (v1 chunk, v2 block or single PUT).", 5 * GiB),
  repoQuotaBytes: bytes("NIMBUS_CACHE_REPO_QUOTA_BYTES", "Per-repository quota (a repository of one organisation); past it the repository's least recently used entries go. 0: none.", 10 * GiB),
  // The org's default quota (NIMBUS_ORG_CACHE_QUOTA_BYTES); an override in the org limits wins.
  orgQuotaBytes: orgCacheQuotaSetting,
  maxTotalBytes: bytes("NIMBUS_CACHE_MAX_BYTES", "Size cap of the whole cache; past it the least recently used entries go. 0: none.", 0),
  unusedDays: { env: "NIMBUS_CACHE_UNUSED_DAYS", doc: "Entries not restored for this many days are evicted.", schema: int(1, 3650), default: "7" },
  uploadTimeoutMinutes: {
    env: "NIMBUS_CACHE_UPLOAD_TIMEOUT_MINUTES",
    doc: "An upload with no activity for this long is abandoned and its data deleted.",
    schema: int(1, 24 * 60),
    default: "30",
  },
  sweepSeconds: { env: "NIMBUS_CACHE_SWEEP_SECONDS", doc: "How often eviction and abandoned-upload cleanup run.", schema: int(1, 86_400), default: "300" },
  urlTtlSeconds: { env: "NIMBUS_CACHE_URL_TTL_SECONDS", doc: "Lifetime of signed blob upload/download URLs.", schema: int(10, 86_400), default: "3600" },
} satisfies SettingsSpec;
