/** A cache core (no HTTP) over an in-memory index and a temp filesystem store, with a settable clock. */
import { createLogger } from "../../../src/core/log.ts";
import type { CacheDeps, CacheLimits } from "../../../src/cache/deps.ts";
import { CacheIndex } from "../../../src/cache/index-db.ts";
import { cacheMetrics } from "../../../src/cache/metrics.ts";
import { UrlSigner } from "../../../src/cache/signing.ts";
import { CircuitBreaker } from "../../../src/blobs/backend/breaker.ts";
import { fsStore } from "../../../src/blobs/backend/fs.ts";
import { guardStore } from "../../../src/blobs/backend/guarded.ts";
import { tempDir } from "./files.ts";
import { BlockPlacer } from "../../../src/cache/placement.ts";

export function testCore(limits: Partial<CacheLimits> = {}) {
  const clock = { now: Date.parse("2026-01-01T00:00:00Z") };
  const dir = tempDir("nimbus-core-");
  const log = createLogger("cache-test");
  const store = guardStore(fsStore(dir), { breaker: new CircuitBreaker({ failures: 3, cooldownMs: 1000 }), label: "cache storage", probeMs: 60_000, log });
  const d: CacheDeps = {
    index: new CacheIndex(":memory:"),
    store,
    signer: new UrlSigner("core-test-secret-0123456789abcdef", 3600),
    metrics: cacheMetrics(false),
    log,
    now: () => clock.now,
    placer: new BlockPlacer(),
    limits: { maxEntryBytes: 1 << 30, maxPartBytes: 1 << 30, repoQuotaBytes: 0, orgQuotaBytes: 0, maxTotalBytes: 0, unusedDays: 7, uploadTimeoutMinutes: 30, ...limits },
  };
  return { d, clock, dir, close: () => (store.stopProbe(), d.index.close()) };
}

export const bytesOf = (s: string) => new Blob([s]).stream() as ReadableStream<Uint8Array>;
