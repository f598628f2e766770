/**
 * Saving: reserve an entry, stream parts to storage, commit. v1 identifies the upload by cacheId and
 * places chunks by Content-Range offset; v2 by a signed upload URL (Put Blob, or Put Block + Put
 * Block List) and finalizes by key and version. An entry is visible only once committed, complete
 * and of the declared size; any commit-time error discards the upload.
 */
import { AppError } from "../core/errors.ts";
import { assembleByList, assembleByOffset } from "./assemble.ts";
import { orgQuotaOf, type CacheDeps } from "./deps.ts";
import { discardQuietly, enforceQuotas } from "./eviction.ts";
import { blockPartName, checkKey, checkVersion } from "./keys.ts";
import { writeScope, type CacheEntry, type Caller, type Part, type Protocol } from "./model.ts";

export const WRITE_DENIED = "cache write denied:";

export interface ReserveRequest {
  key: unknown;
  version: unknown;
  size?: number;
  protocol: Protocol;
}

function checkSize(d: CacheDeps, size: number, org: string): void {
  const cap = Math.min(d.limits.maxEntryBytes, d.limits.repoQuotaBytes || Infinity, orgQuotaOf(d, org) || Infinity);
  if (size > cap) throw new AppError("bad_request", `cache size of ${size} B is over the data cap of ${cap} B, not saving cache`);
}

export async function reserve(d: CacheDeps, caller: Caller, req: ReserveRequest): Promise<CacheEntry> {
  const key = checkKey(req.key);
  const version = checkVersion(req.version);
  const scope = writeScope(caller);
  if (!scope) throw new AppError("forbidden", `${WRITE_DENIED} the runtime token grants no writable cache scope`);
  if (req.size !== undefined) {
    if (!Number.isSafeInteger(req.size) || req.size < 0) throw new AppError("validation_failed", "cacheSize: must be a whole number of bytes");
    checkSize(d, req.size, caller.org);
  }
  if (!(await d.store.healthy())) {
    d.metrics.skippedSaves.inc({ protocol: req.protocol });
    throw new AppError("forbidden", `${WRITE_DENIED} cache storage is unavailable, save skipped`);
  }
  const entry = await d.entries.create({ repo: caller.repo, org: caller.org, scope, key, version, protocol: req.protocol, declaredSize: req.size ?? null });
  if (!entry) throw new AppError("conflict", "cache entry with the same key, version, and scope already exists");
  return entry;
}

/** The uploading entry `id`, if the caller may write it. */
export function ownUpload(d: CacheDeps, caller: Caller, id: number): CacheEntry {
  const e = d.index.get(id);
  if (!e) throw new AppError("not_found", `no cache upload ${id}`);
  if (e.org !== caller.org) throw new AppError("not_found", `no cache upload ${id}`); // another org's: as if it did not exist
  if (e.repo !== caller.repo || e.scope !== writeScope(caller)) throw new AppError("forbidden", "the cache entry belongs to another repository or scope");
  if (e.state !== "uploading") throw new AppError("conflict", `cache entry ${id} is already committed`);
  return atHome(d, e);
}

/** An upload's parts live with the replica that reserved it: another replica refuses them, naming it. */
function atHome(d: CacheDeps, e: CacheEntry): CacheEntry {
  if (e.home !== d.entries.self.home) throw new AppError("conflict", `cache upload ${e.id} is held by the cache replica at ${e.home}; send its parts there`);
  return e;
}

function uploading(d: CacheDeps, id: number): CacheEntry {
  const e = d.index.get(id);
  if (!e || e.state !== "uploading") throw new AppError("not_found", `no cache upload ${id} in progress`);
  return atHome(d, e);
}

/**
 * Stream one part to storage. With `start` (a v1 chunk's offset, or a v2 block placed by
 * placement.ts) and a store that can write in place, it lands in the archive file itself, fsynced;
 * otherwise in an object of its own, which commit copies in (so no fsync here).
 */
async function storePart(d: CacheDeps, e: CacheEntry, name: string, start: number | null, body: ReadableStream<Uint8Array>, expected?: number): Promise<void> {
  const stored = d.index.parts(e.id).filter((p) => p.name !== name).reduce((s, p) => s + p.size, 0);
  const inPlace = start !== null && d.store.putAt !== undefined;
  const limits = { maxBytes: Math.min(d.limits.maxPartBytes, d.limits.maxEntryBytes - stored), expectedBytes: expected, sync: inPlace || d.store.compose === undefined };
  const object = inPlace ? `e/${e.id}/data` : `e/${e.id}/${name}`;
  if (inPlace) d.index.removePart(e.id, name); // rewriting in place: a failed rewrite must not leave the old record
  const size = inPlace ? await d.store.putAt!(object, start, body, limits) : await d.store.put(object, body, limits);
  d.metrics.bytesIn.inc(size);
  if (d.index.get(e.id)?.state !== "uploading") {
    await d.store.delete([object]).catch(() => undefined);
    throw new AppError("conflict", `cache entry ${e.id} was committed or removed during the upload`);
  }
  d.index.putPart(e.id, { name, start, size, object }, d.now());
}

/** v1 PATCH: a chunk for bytes [start, end] (inclusive). */
export async function writeChunk(d: CacheDeps, caller: Caller, id: number, range: { start: number; end: number }, body: ReadableStream<Uint8Array>) {
  const e = ownUpload(d, caller, id);
  if (e.declaredSize !== null && range.end >= e.declaredSize)
    throw new AppError("bad_request", `Content-Range ends at ${range.end}, past the reserved size of ${e.declaredSize} bytes`);
  await storePart(d, e, `o${range.start}`, range.start, body, range.end - range.start + 1);
}

async function commitWith(d: CacheDeps, e: CacheEntry, size: number, assemble: (parts: Part[]) => ReturnType<typeof assembleByOffset>) {
  try {
    if (e.declaredSize !== null && size !== e.declaredSize) throw new AppError("bad_request", `committed size ${size} differs from the reserved size ${e.declaredSize}`);
    checkSize(d, size, e.org);
    const parts = d.index.parts(e.id);
    const segments = assemble(parts);
    const keep = new Set(segments.map((s) => s.object));
    if (!(await d.entries.commit(e, segments, size))) throw new AppError("conflict", `cache entry ${e.id} is no longer uploading`);
    const unused = parts.map((p) => p.object).filter((o) => !keep.has(o));
    if (unused.length) await d.store.delete(unused).catch(() => undefined);
  } catch (err) {
    await discardQuietly(d, e, "failed_commit");
    throw err;
  }
  const committed = d.index.get(e.id)!;
  await enforceQuotas(d, committed).catch((err) => d.log.warn("quota enforcement failed", { error: err }));
  return committed;
}

/** v1 POST caches/{id}: every byte of [0, size) must have arrived. */
export async function commitById(d: CacheDeps, caller: Caller, id: number, size: unknown): Promise<CacheEntry> {
  const e = ownUpload(d, caller, id);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new AppError("validation_failed", "size: must be a whole number of bytes");
  return commitWith(d, e, size, (parts) => assembleByOffset(parts, size));
}

/** v2 signed URL: Put Blob (whole archive) or Put Block (one block, by id; placed in the archive file when its offset can be guessed). */
export async function writeBlob(d: CacheDeps, id: number, blockId: string | undefined, body: ReadableStream<Uint8Array>, length?: number) {
  const e = uploading(d, id);
  if (!blockId) {
    await storePart(d, e, "blob", null, body, length);
    if (e.blockList) d.index.setBlockList(e.id, [], d.now());
    return;
  }
  const at = d.placer && d.store.putAt && d.store.compose ? d.placer.place(id, blockId, length, d.limits.maxEntryBytes) : undefined;
  let ok = false;
  try {
    await storePart(d, e, blockPartName(blockId), at ?? null, body, length);
    ok = true;
  } finally {
    if (at !== undefined) d.placer!.settle(id, blockId, ok);
  }
}

/** v2 Put Block List: every named block must exist; otherwise the upload is discarded. */
export async function commitBlockList(d: CacheDeps, id: number, blockIds: string[]): Promise<void> {
  const e = uploading(d, id);
  const parts = new Map(d.index.parts(id).map((p) => [p.name, p]));
  const names = blockIds.map(blockPartName);
  if (names.length === 0 || names.some((n) => !parts.has(n))) {
    await discardQuietly(d, e, "invalid_block_list");
    throw new AppError("bad_request", "InvalidBlockList: the block list names a block that was not uploaded");
  }
  if (!d.store.compose) return d.index.setBlockList(id, names, d.now());
  const dest = `e/${id}/data`;
  const pieces = names.map((n) => parts.get(n)!).map((p) => ({ object: p.object, start: p.object === dest ? p.start! : 0, size: p.size }));
  const size = await d.store.compose(dest, pieces);
  d.placer?.forget(id);
  d.index.replaceParts(id, { name: "data", start: null, size, object: dest }, d.now());
  d.index.setBlockList(id, ["data"], d.now());
  const old = [...new Set([...parts.values()].map((p) => p.object))].filter((o) => o !== dest);
  if (old.length) await d.store.delete(old).catch(() => undefined);
}

/** v2 FinalizeCacheEntryUpload: by key and version in the caller's write scope. */
export async function finalize(d: CacheDeps, caller: Caller, key: unknown, version: unknown, size: number): Promise<CacheEntry> {
  const scope = writeScope(caller);
  if (!scope) throw new AppError("forbidden", `${WRITE_DENIED} the runtime token grants no writable cache scope`);
  const e = d.index.byIdentity(caller.org, caller.repo, scope, checkKey(key), checkVersion(version));
  if (!e || e.state !== "uploading") throw new AppError("not_found", "no cache upload in progress for that key and version");
  atHome(d, e);
  return commitWith(d, e, size, (parts) => assembleByList(parts, e.blockList?.length ? e.blockList : null, size));
}
