/**
 * A cache core (no HTTP) over an in-memory copy of the index, the shared index in a real
 * nats-server (one per test process, its bucket emptied for each core), a temp filesystem store,
 * and a settable clock.
 */
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
import { SharedEntries } from "../../../src/cache/shared/entries.ts";
import { PeerReader } from "../../../src/cache/shared/peers.ts";
import { CACHE_ENTRIES_BUCKET, ensureCacheEntriesBucket } from "../../../src/nats/topology.ts";
import { connectNats } from "../../../src/nats/connect.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats } from "../../support/nats.ts";

let shared: Promise<{ url: string; stop(): Promise<void> }> | undefined;
/** One nats-server for a test file's cores; the file stops it in its afterAll (stopCoreNats). */
function natsServer() {
  shared ??= startNats();
  return shared;
}

export async function stopCoreNats(): Promise<void> {
  const n = shared;
  shared = undefined;
  await (await n)?.stop();
}

/** This replica's name in the tests' shared index. */
export const TEST_HOME = "http://127.0.0.1:1";

export async function testCore(limits: Partial<CacheLimits> = {}) {
  const clock = { now: Date.parse("2026-01-01T00:00:00Z") };
  const dir = tempDir("nimbus-core-");
  const log = createLogger("cache-test");
  const store = guardStore(fsStore(dir), { breaker: new CircuitBreaker({ failures: 3, cooldownMs: 1000 }), label: "cache storage", probeMs: 60_000, log });
  const nc = await connectNats({ url: (await natsServer()).url, name: "cache-core-test" });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${CACHE_ENTRIES_BUCKET}`).catch(() => undefined); // each core starts empty
  const index = new CacheIndex(":memory:");
  const now = () => clock.now;
  const signer = new UrlSigner("core-test-secret-0123456789abcdef", 3600);
  const entries = await SharedEntries.start({ kv: await ensureCacheEntriesBucket(nc), index, self: { home: TEST_HOME, shared: false }, log, now, deleteObjects: (o) => store.delete(o) });
  const d: CacheDeps = {
    index,
    entries,
    peers: new PeerReader(signer, log, now),
    store,
    signer,
    metrics: cacheMetrics(false),
    log,
    now,
    placer: new BlockPlacer(),
    limits: { maxEntryBytes: 1 << 30, maxPartBytes: 1 << 30, repoQuotaBytes: 0, orgQuotaBytes: 0, maxTotalBytes: 0, unusedDays: 7, uploadTimeoutMinutes: 30, ...limits },
  };
  return { d, clock, dir, close: () => (store.stopProbe(), entries.stop(), d.index.close(), void nc.close()) };
}

export const bytesOf = (s: string) => new Blob([s]).stream() as ReadableStream<Uint8Array>;
