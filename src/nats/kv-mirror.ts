/**
 * A live in-memory copy of a KV bucket, kept current by one watch: the initial values (delivered
 * once, tombstones included) and then only changes. Readers never ask NATS; NATS stays the only
 * source of truth (writes never go through a mirror, and a mirror may lag by the watch's delivery).
 */
import type { KV, KvEntry } from "@nats-io/kv";

/** Called for each change after the initial values (a deleted key: `next` null), with the value it replaced. */
export type Changed<T> = (next: T | null, prev: T | undefined) => void;

export class KvMirror<T> {
  private readonly map = new Map<string, T>();
  private stopWatch: () => void = () => {};

  private constructor() {}

  /**
   * Resolves once the bucket's values at the time of the call are in the mirror. `parse` returns
   * null for a value to leave out (a deleted key, or one written by something else).
   */
  static async start<T>(kv: KV, parse: (e: KvEntry) => T | null, onChange?: Changed<T>): Promise<KvMirror<T>> {
    const m = new KvMirror<T>();
    const initial = (await kv.status()).values;
    const watch = await kv.watch();
    m.stopWatch = () => watch.stop();
    let seen = 0;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    if (initial === 0) markReady();
    (async () => {
      for await (const e of watch) {
        const v = e.operation === "PUT" && e.value.length ? parse(e) : null;
        const prev = m.map.get(e.key);
        if (v !== null) m.map.set(e.key, v);
        else m.map.delete(e.key);
        if (onChange && e.isUpdate) {
          try {
            onChange(v, prev);
          } catch {
            // an observer's fault never stops the mirror
          }
        }
        if (++seen >= initial || e.isUpdate) markReady();
      }
    })();
    await ready;
    return m;
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  values(): IterableIterator<T> {
    return this.map.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.map.entries();
  }

  get size(): number {
    return this.map.size;
  }

  stop(): void {
    this.stopWatch();
  }
}
