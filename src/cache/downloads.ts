/**
 * Restoring: find the entry (GitHub's order, see lookup.ts), hand out a signed download URL, and
 * serve the archive, whole or by Range, as a stream over its segments. While storage is down a
 * lookup is a miss, so the job goes on without the cache instead of failing on the download.
 */
import { AppError } from "../core/errors.ts";
import { parseRange, sliceSegments, type Slice } from "./assemble.ts";
import type { CacheDeps } from "./deps.ts";
import { checkKeyList, checkVersion } from "./keys.ts";
import { findEntry } from "./lookup.ts";
import type { CacheEntry, Caller, Protocol } from "./model.ts";
import type { ObjectStore } from "../blobs/backend/types.ts";

export interface Hit {
  entry: CacheEntry;
  /** Path and query of the signed download URL; the HTTP layer adds the origin. */
  downloadPath: string;
}

export async function lookup(d: CacheDeps, caller: Caller, keys: string[], version: unknown, protocol: Protocol): Promise<Hit | undefined> {
  const checked = checkKeyList(keys);
  const entry = findEntry(d.index, caller, checkVersion(version), checked);
  const remote = entry !== undefined && !servedHere(d, entry);
  if (!entry || !(remote ? d.peers.reachable(entry.home) : await d.store.healthy())) {
    if (entry) d.log.warn(remote ? "the cache replica holding the entry is unreachable; lookup answered as a miss" : "cache storage unavailable; lookup answered as a miss", { repo: caller.repo });
    d.metrics.misses.inc({ protocol });
    return undefined;
  }
  d.entries.touch(entry);
  d.metrics.hits.inc({ protocol });
  return { entry, downloadPath: d.signer.sign("r", "e", entry.id, d.now()) };
}

export interface Download {
  size: number;
  etag: string;
  lastModified: Date;
  range?: { start: number; end: number };
  body: ReadableStream<Uint8Array> | Blob;
}

function concat(store: ObjectStore, slices: Slice[]): ReadableStream<Uint8Array> {
  let i = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (!reader) {
          const s = slices[i++];
          if (!s) return controller.close();
          const src = await store.read(s.object, s.start, s.end);
          reader = (src instanceof Blob ? src.stream() : src).getReader();
        }
        const r = await reader.read();
        if (!r.done) return controller.enqueue(r.value);
        reader = undefined;
      }
    },
    cancel: (reason) => reader?.cancel(reason),
  }, { highWaterMark: 0 });
}

/** Whether this replica reads the entry's archive from its own storage (else it asks the entry's home). */
const servedHere = (d: CacheDeps, e: CacheEntry) => e.home === d.entries.self.home || (e.shared && d.entries.self.shared);

/**
 * The archive of a ready entry (signature already checked by the caller), optionally a range. One
 * held by another replica is streamed from it, unless this request came from a replica itself
 * (`fromPeer`): a replica asked for an archive serves it from its own storage or not at all.
 */
export async function openDownload(d: CacheDeps, id: number, rangeHeader: string | null, withBody: boolean, fromPeer = false): Promise<Download> {
  const e = d.index.get(id);
  if (!e || e.state !== "ready") throw new AppError("not_found", "no such cache entry");
  const range = parseRange(rangeHeader, e.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? e.size - 1;
  const meta = { size: e.size, range, etag: `"0x${e.id.toString(16)}${(e.committedAt ?? 0).toString(16)}"`, lastModified: new Date(e.committedAt ?? e.createdAt) };
  if (!withBody) return { ...meta, body: new Blob([]) };
  if (!servedHere(d, e)) {
    if (fromPeer) throw new AppError("not_found", "no such cache entry on this replica");
    const body = await d.peers.read(e, start, end);
    d.metrics.bytesOut.inc(end - start + 1);
    return { ...meta, body };
  }
  const slices = sliceSegments(e.segments, start, end);
  let body: ReadableStream<Uint8Array> | Blob;
  if (slices.length === 1) body = await d.store.read(slices[0]!.object, slices[0]!.start, slices[0]!.end);
  else {
    if (slices[0]) await d.store.size(slices[0].object); // fail fast (503) before headers if storage is down
    body = concat(d.store, slices);
  }
  d.metrics.bytesOut.inc(end - start + 1);
  return { ...meta, body };
}
