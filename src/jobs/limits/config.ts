/**
 * The default per-organisation limits (src/jobs/limits/values.ts), declared once. An operator
 * overrides them per organisation (`PUT /api/orgs/:org/limits`); these apply to every org without
 * an override. The control plane reads the submission window and the quotas; agents read the
 * running-job limit (give every process the same value, as `nimbus up` does).
 */
import { int, type SettingsSpec } from "../../core/config/settings.ts";

export const orgRunningSetting = {
  env: "NIMBUS_ORG_MAX_RUNNING",
  doc: "Jobs one organisation may run at once, across every agent (0: no limit); more wait in the queue.",
  schema: int(0, 1_000_000),
  default: "0",
};

/** Read by the cache service too, which enforces it (an org's override wins: src/jobs/limits/store.ts watchedLimit). */
export const orgCacheQuotaSetting = {
  env: "NIMBUS_ORG_CACHE_QUOTA_BYTES",
  doc: "Actions cache bytes one organisation may keep, LRU within it (0: no quota); an operator's per-org override wins. The cache service enforces it.",
  schema: int(0, Number.MAX_SAFE_INTEGER),
  default: "0",
};

/** Read by the registry too, which enforces it (an org's override wins, watched: src/registry/quota/). */
export const orgRegistryQuotaSetting = {
  env: "NIMBUS_ORG_REGISTRY_QUOTA_BYTES",
  doc: "Registry bytes one organisation may keep (0: no quota); an operator's per-org override wins. The registry refuses pushes past it (403 DENIED) and evicts the org's least recently used untagged content past NIMBUS_REGISTRY_QUOTA_SOFT_PERCENT of it.",
  schema: int(0, Number.MAX_SAFE_INTEGER),
  default: "0",
};

export const orgLimitSettings = {
  orgMaxRunning: orgRunningSetting,
  orgSubmissionsPerWindow: {
    env: "NIMBUS_ORG_SUBMISSIONS_PER_WINDOW",
    doc: "Jobs one organisation may submit per window, direct and GitHub together; more are answered 429 with Retry-After (GitHub's poll re-offers its jobs later).",
    schema: int(1, 10_000_000),
    default: "1000",
  },
  orgWindowMs: {
    env: "NIMBUS_ORG_WINDOW_MS",
    doc: "Length of the per-organisation submission window.",
    schema: int(1000, 3_600_000),
    default: "60000",
  },
  orgCacheQuotaBytes: orgCacheQuotaSetting,
  orgRegistryQuotaBytes: orgRegistryQuotaSetting,
} satisfies SettingsSpec;
