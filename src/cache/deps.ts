/** What the cache core works with; the HTTP layer and tests build one of these. */
import type { Logger } from "../core/log.ts";
import type { CacheIndex } from "./index-db.ts";
import type { SharedEntries } from "./shared/entries.ts";
import type { PeerReader } from "./shared/peers.ts";
import type { CacheMetrics } from "./metrics.ts";
import type { BlockPlacer } from "./placement.ts";
import type { UrlSigner } from "./signing.ts";
import type { GuardedStore } from "../blobs/backend/guarded.ts";

export interface CacheLimits {
  maxEntryBytes: number;
  maxPartBytes: number;
  repoQuotaBytes: number;
  orgQuotaBytes: number;
  maxTotalBytes: number;
  unusedDays: number;
  uploadTimeoutMinutes: number;
}

export interface CacheDeps {
  /** This replica's copy of the index: every read. */
  index: CacheIndex;
  /** The shared index in NATS: every write of an entry. */
  entries: SharedEntries;
  /** Archives held by other replicas (fs storage), fetched from their home. */
  peers: PeerReader;
  store: GuardedStore;
  signer: UrlSigner;
  metrics: CacheMetrics;
  log: Logger;
  limits: CacheLimits;
  now: () => number;
  /** An org's cache quota: its limits override (src/jobs/limits), else `limits.orgQuotaBytes` (0: none). */
  orgQuota?: (org: string) => number;
  /** Guesses v2 block offsets so blocks land in the archive file (fs); without it blocks are copied in at commit. */
  placer?: BlockPlacer;
}

/** The cache bytes `org` may keep (0: no quota). */
export const orgQuotaOf = (d: Pick<CacheDeps, "orgQuota" | "limits">, org: string): number => d.orgQuota?.(org) ?? d.limits.orgQuotaBytes;
