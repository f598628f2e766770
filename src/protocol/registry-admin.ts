/**
 * What the registry's admin API answers (src/registry/http/admin.ts, src/registry/http/gc.ts), as
 * JSON on the wire: read by the CLI (`nimbus registry …`) and the dashboard (through the control
 * plane's relay), produced by the registry.
 */

/** GET /v1/registry/repositories: a repository with its counts, bytes and last push. */
export interface RegistryRepo {
  name: string;
  org: string;
  tags: number;
  manifests: number;
  /** Distinct blobs and manifests the repository links, and their bytes. */
  blobs: number;
  bytes: number;
  /** ISO time of the last manifest put or tag set; null for a repository with neither. */
  lastPush: string | null;
}

/** GET /v1/registry/tags: one tag of a repository. */
export interface RegistryTag {
  tag: string;
  digest: string;
  mediaType: string | null;
  size: number;
  pushedAt: string | null;
}

/** GET /v1/registry/usage: one organisation's row. */
export interface RegistryOrgUsage {
  org: string;
  repositories: number;
  blobs: number;
  bytes: number;
  quotaBytes: number | null;
  overQuota: boolean;
}

/** GET /v1/registry/usage. */
export interface RegistryUsage {
  usage: RegistryOrgUsage[];
  totalBytes: number;
}

/** POST /admin/gc: what one garbage collection found and removed. */
export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  repositories: number;
  /** Distinct digests found live (kept). */
  marked: number;
  manifestsRemoved: number;
  blobLinksRemoved: number;
  blobsSwept: number;
  bytesSwept: number;
  uploadsRemoved: number;
  /** Links evicted from organisations past their soft quota threshold. */
  evictedLinks: number;
  evictedBytes: number;
}
