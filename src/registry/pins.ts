/**
 * Digests in use, so garbage collection and quota eviction never remove what a request is about to
 * reference (in this process; the grace window of src/registry/gc/ covers everything else):
 * - a push `hold`s the digests it checks and links (an upload's promised digest, a manifest and what
 *   it names, a mount) from before its checks until its link is written;
 * - a read `touch`es the digest it served (a client checks a blob with HEAD before a manifest names it);
 * - a collector `claim`s a digest before removing a link or the bytes of it: refused while the digest
 *   is held, or was held or read within the grace window; while a removal runs, a new hold waits for
 *   it to finish, so the push's checks then see the removal and answer for it (BLOB_UNKNOWN and a
 *   fresh upload), never a manifest naming bytes that are gone.
 */
import type { Digest } from "../blobs/digest.ts";

export class Pins {
  private readonly held = new Map<Digest, number>();
  /** Last hold or read, by digest (ms); pruned past the grace window. */
  private readonly used = new Map<Digest, number>();
  private readonly removing = new Map<Digest, Promise<void>>();

  constructor(
    readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Hold `digests` until the returned release is called; waits out removals already under way. */
  async hold(digests: Iterable<Digest>): Promise<() => void> {
    const list = [...new Set(digests)];
    const t = this.now();
    for (const d of list) {
      this.held.set(d, (this.held.get(d) ?? 0) + 1);
      this.used.set(d, t);
    }
    await Promise.all(list.map((d) => this.removing.get(d)));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const at = this.now();
      for (const d of list) {
        const n = (this.held.get(d) ?? 1) - 1;
        if (n > 0) this.held.set(d, n);
        else this.held.delete(d);
        this.used.set(d, at);
      }
    };
  }

  touch(d: Digest): void {
    this.used.set(d, this.now());
  }

  /** A read of `d`: recorded first, then a removal already under way is waited out, so the read sees what it left. */
  async use(d: Digest): Promise<void> {
    this.touch(d);
    await this.removing.get(d);
  }

  /** Whether `d` was held or read within the grace window, or is held now. */
  inUse(d: Digest): boolean {
    const t = this.used.get(d);
    return this.held.has(d) || (t !== undefined && this.now() - t < this.graceMs);
  }

  /** Claim `d` for removal: null when it is in use; else call the returned function once removed. */
  claim(d: Digest): (() => void) | null {
    if (this.inUse(d) || this.removing.has(d)) return null;
    let done!: () => void;
    this.removing.set(d, new Promise<void>((r) => (done = r)));
    return () => {
      this.removing.delete(d);
      done();
    };
  }

  /** Forget uses older than the grace window (the collector calls it once per run). */
  prune(): void {
    const cutoff = this.now() - this.graceMs;
    for (const [d, t] of this.used) if (t < cutoff && !this.held.has(d)) this.used.delete(d);
  }
}
