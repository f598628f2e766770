/**
 * The shared cache index: every entry of every cache replica in one NATS KV bucket, so a job on any
 * host restores what a job on another saved. NATS is the truth and the only place entries are
 * written (one create per reservation, so two replicas never take the same identity; one
 * compare-and-set per change); each replica keeps its SQLite copy (index-db.ts) current from one
 * watch and answers lookups from it. A write is applied to the copy at once as well, so a
 * replica reads its own writes.
 *
 * Deleting: the replica that holds an entry's data (its home, or anyone when storage is shared
 * and the entry is committed) deletes the data and then the key. Any other replica marks it
 * `deleting`, which takes it out of every copy; the home, watching, deletes the data and the key
 * (now, or when it is next up). Nothing is orphaned by a replica that cannot reach the data.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import type { Logger } from "../../core/log.ts";
import { isWrongLastSequence, unlessCasLost } from "../../nats/errors.ts";
import type { CacheIndex, NewEntry, SharedFields } from "../index-db.ts";
import type { CacheEntry, Segment } from "../model.ts";
import { decodeEntry, encodeEntry, entryKey } from "./record.ts";

/** This replica, as entries name it. */
export interface Replica {
  /** Its peer URL: where other replicas fetch the archives it holds. */
  home: string;
  /** Storage every replica reads (S3): committed archives need no home to serve them. */
  shared: boolean;
}

export interface SharedEntriesDeps {
  kv: KV;
  index: CacheIndex;
  self: Replica;
  log: Logger;
  now: () => number;
  /** Delete data objects; throws when storage refuses (the entry then stays, for the next sweep). */
  deleteObjects: (objects: string[]) => Promise<void>;
}

/** How often one entry's last use is written to the shared index (every use still updates this replica's copy). */
export const TOUCH_INTERVAL_MS = 60_000;
const CAS_TRIES = 5;

export class SharedEntries {
  private stopWatch: () => void = () => {};
  private readonly touched = new Map<number, number>();
  /** Entries of ours marked deleting elsewhere whose data we still have to delete: key → [rev, objects]. */
  private readonly reaps = new Map<string, { rev: number; objects: string[] }>();

  private constructor(private readonly d: SharedEntriesDeps) {}

  get self(): Replica {
    return this.d.self;
  }

  /** Resolves once this replica's copy holds the bucket's entries as of the call. */
  static async start(d: SharedEntriesDeps): Promise<SharedEntries> {
    const s = new SharedEntries(d);
    await s.dropLegacy();
    const initial = (await d.kv.status()).values;
    const watch = await d.kv.watch();
    s.stopWatch = () => watch.stop();
    let seen = 0;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    if (initial === 0) markReady();
    void (async () => {
      for await (const e of watch) {
        try {
          s.onChange(e);
        } catch (err) {
          d.log.warn("cache index: a change could not be applied", { key: e.key, error: err });
        }
        if (++seen >= initial || e.isUpdate) markReady();
      }
    })();
    await ready;
    return s;
  }

  /** Rows of this replica's SQLite from before the shared index: their data is deleted, the rows dropped. */
  private async dropLegacy(): Promise<void> {
    const legacy = this.d.index.legacy();
    for (const e of legacy) {
      await this.d.deleteObjects(objectsOf(this.d.index, e)).catch(() => undefined);
      this.d.index.forget(e.id);
    }
    if (legacy.length) this.d.log.info("cache index: dropped entries from before the shared index", { entries: legacy.length });
  }

  private onChange(e: KvEntry): void {
    if (e.operation !== "PUT" || !e.value.length) return this.d.index.drop(e.key, e.revision);
    const entry = decodeEntry(e.value, e.revision);
    if (!entry) return this.d.log.warn("cache index: ignored a value no cache replica wrote", { key: e.key });
    if (entry.state !== "deleting") return this.d.index.apply(e.key, e.revision, entry);
    // Deleting: gone from every copy; its home deletes the data (parts included, read before the row goes).
    if (entry.home === this.d.self.home) this.reaps.set(e.key, { rev: e.revision, objects: objectsOf(this.d.index, entry) });
    this.d.index.drop(e.key, e.revision + 1);
    if (entry.home === this.d.self.home) void this.reap();
  }

  /** Delete the data of our entries marked deleting, then their keys. Failures stay queued for the next sweep. */
  async reap(): Promise<number> {
    let done = 0;
    for (const [key, r] of [...this.reaps]) {
      try {
        await this.d.deleteObjects(r.objects);
        await unlessCasLost(this.d.kv.delete(key, { previousSeq: r.rev }));
        this.reaps.delete(key);
        done += 1;
      } catch (err) {
        this.d.log.warn("cache index: could not delete an entry's data yet; will retry", { key, error: err });
      }
    }
    return done;
  }

  /** Reserve an identity for an upload on this replica; undefined when any replica holds it already. */
  async create(n: NewEntry): Promise<CacheEntry | undefined> {
    const now = this.d.now();
    const fields: SharedFields = {
      ...n, id: 0, state: "uploading", size: 0, createdAt: now, committedAt: null, lastUsedAt: now, segments: [], home: this.d.self.home, shared: this.d.self.shared,
    };
    const key = entryKey(n);
    const rev = await unlessCasLost(this.d.kv.create(key, encodeEntry(fields)));
    if (rev === null) return undefined;
    this.d.index.apply(key, rev, { ...fields, id: rev });
    return this.d.index.get(rev);
  }

  /**
   * One compare-and-set on entry `e`'s current value: `change` returns the next value, or null to
   * leave it. Retried on a lost race against the value now there. Undefined: the entry is gone, or
   * `change` declined.
   */
  private async update(e: Pick<CacheEntry, "id" | "org" | "repo" | "scope" | "key" | "version">, change: (cur: SharedFields) => SharedFields | null): Promise<SharedFields | undefined> {
    const key = entryKey(e);
    for (let i = 0; i < CAS_TRIES; i++) {
      const cur = await this.d.kv.get(key);
      const value = cur && cur.operation === "PUT" && cur.value.length ? decodeEntry(cur.value, cur.revision) : null;
      if (!cur || !value || value.id !== e.id) return undefined;
      const next = change(value);
      if (!next) return undefined;
      try {
        const rev = await this.d.kv.update(key, encodeEntry({ ...next, id: e.id }), cur.revision);
        if (next.state === "deleting") this.d.index.drop(key, rev + 1);
        else this.d.index.apply(key, rev, next);
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`cache entry ${e.id}: ${CAS_TRIES} writes in a row lost a race; try again`);
  }

  /** Uploading → ready with its archive; false when it is no longer uploading (committed or removed meanwhile). */
  async commit(e: CacheEntry, segments: Segment[], size: number): Promise<boolean> {
    const now = this.d.now();
    const next = await this.update(e, (cur) => (cur.state === "uploading" ? { ...cur, state: "ready", segments, size, committedAt: now, lastUsedAt: now } : null));
    if (next) this.d.index.clearParts(e.id);
    return next !== undefined;
  }

  /** A use: this replica's copy now; the shared index at most once a minute per entry. */
  touch(e: CacheEntry): void {
    const now = this.d.now();
    this.d.index.touch(e.id, now);
    if (now - (this.touched.get(e.id) ?? e.lastUsedAt) < TOUCH_INTERVAL_MS) return;
    this.touched.set(e.id, now);
    if (this.touched.size > 100_000) this.touched.clear();
    this.update(e, (cur) => (cur.state === "ready" && cur.lastUsedAt < now ? { ...cur, lastUsedAt: now } : null)).catch((err) =>
      this.d.log.debug("cache index: last use not shared", { id: e.id, error: err }),
    );
  }

  /** Whether this replica may delete `e`'s data itself: its own, or a committed archive in shared storage. */
  holdsData(e: CacheEntry): boolean {
    return e.home === this.d.self.home || (e.shared && this.d.self.shared && e.state === "ready");
  }

  /** Remove an entry whose data the caller has deleted (holdsData). */
  async remove(e: CacheEntry): Promise<void> {
    const key = entryKey(e);
    // Whatever its last use: the data is gone. Only a later life of the identity (another id) is left alone.
    for (let i = 0; i < CAS_TRIES; i++) {
      const cur = await this.d.kv.get(key);
      const value = cur && cur.operation === "PUT" && cur.value.length ? decodeEntry(cur.value, cur.revision) : null;
      if (!cur || !value || value.id !== e.id) break;
      if ((await unlessCasLost(this.d.kv.delete(key, { previousSeq: cur.revision }))) !== null) break;
    }
    this.d.index.forget(e.id);
    this.touched.delete(e.id);
  }

  /** Hand an entry whose data is elsewhere to its home for deletion. */
  async markDeleting(e: CacheEntry): Promise<void> {
    await this.update(e, (cur) => (cur.state === "deleting" ? null : { ...cur, state: "deleting" }));
    this.d.index.forget(e.id);
    this.touched.delete(e.id);
  }

  stop(): void {
    this.stopWatch();
  }
}

/** Every object an entry's data is in: its archive's segments and the parts of an upload in progress. */
export function objectsOf(index: CacheIndex, e: Pick<CacheEntry, "id" | "segments">): string[] {
  return [...new Set([...e.segments.map((s) => s.object), ...index.parts(e.id).map((p) => p.object)])];
}
