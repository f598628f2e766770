/**
 * What other parts of the registry feed into its Prometheus metrics (src/registry/metrics.ts): the
 * garbage collector's reports and the pull-through mirror's counters (read at each scrape).
 */
import { Counter, Histogram } from "prom-client";
import type { GcReport } from "./gc/collect.ts";
import type { MirrorStats } from "./mirror/metrics.ts";
import type { RegistryMetrics } from "./metrics.ts";

/** Counters of finished collections (dry runs are counted as runs, not as removals). */
export function gcMetrics(m: RegistryMetrics): (r: GcReport) => void {
  const registers = [m.registry];
  const runs = new Counter({ name: "nimbus_registry_gc_runs_total", help: "Garbage collections finished, by kind (run or dry_run).", labelNames: ["kind"], registers });
  const removed = new Counter({ name: "nimbus_registry_gc_removed_total", help: "What collections removed, by what: manifests, blob_links, blobs, uploads, evicted_links.", labelNames: ["what"], registers });
  const bytes = new Counter({ name: "nimbus_registry_gc_bytes_total", help: "Bytes collections freed, by how: swept (unreferenced blobs) or evicted (over an org's soft quota).", labelNames: ["how"], registers });
  const seconds = new Histogram({ name: "nimbus_registry_gc_duration_seconds", help: "How long a collection took.", buckets: [0.01, 0.1, 0.5, 1, 5, 30, 120, 600], registers });
  for (const what of ["manifests", "blob_links", "blobs", "uploads", "evicted_links"]) removed.inc({ what }, 0);
  for (const how of ["swept", "evicted"]) bytes.inc({ how }, 0);
  return (r) => {
    runs.inc({ kind: r.dryRun ? "dry_run" : "run" });
    seconds.observe(r.durationMs / 1000);
    if (r.dryRun) return;
    removed.inc({ what: "manifests" }, r.manifestsRemoved);
    removed.inc({ what: "blob_links" }, r.blobLinksRemoved);
    removed.inc({ what: "blobs" }, r.blobsSwept);
    removed.inc({ what: "uploads" }, r.uploadsRemoved);
    removed.inc({ what: "evicted_links" }, r.evictedLinks);
    bytes.inc({ how: "swept" }, r.bytesSwept);
    bytes.inc({ how: "evicted" }, r.evictedBytes);
  };
}

/** The mirror's hits, misses and upstream errors per upstream, as `nimbus_registry_mirror_events_total{upstream,event}`. */
export function mirrorMetrics(m: RegistryMetrics, stats: MirrorStats): void {
  new Counter({
    name: "nimbus_registry_mirror_events_total",
    help: "Pull-through mirror events per upstream: manifest_hit, manifest_revalidated, manifest_miss, manifest_stale, blob_hit, blob_miss, blob_joined, digest_mismatch, upstream_error.",
    labelNames: ["upstream", "event"],
    registers: [m.registry],
    collect() {
      this.reset();
      for (const row of stats.snapshot()) this.inc({ upstream: row.upstream, event: row.event }, row.value);
    },
  });
}
