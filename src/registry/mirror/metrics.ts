/**
 * The mirror's counters, per upstream, for the registry's Prometheus metrics to expose (labels:
 * upstream name and event, both bounded sets). Plain numbers; nothing here ever holds a name of a
 * repository, a credential or a URL.
 */
export const MIRROR_EVENTS = [
  /** A manifest served from the cache without asking the upstream (a digest, or a fresh tag). */
  "manifest_hit",
  /** A stale tag the upstream confirmed unchanged (HEAD), served from the cache. */
  "manifest_revalidated",
  /** A manifest fetched from the upstream (unknown, or its tag moved). */
  "manifest_miss",
  /** A stale tag served because the upstream could not be asked. */
  "manifest_stale",
  /** A blob served from the cache. */
  "blob_hit",
  /** A blob streamed from the upstream while it is stored. */
  "blob_miss",
  /** A pull that joined another pull's fetch of the same blob instead of fetching it again. */
  "blob_joined",
  /** An upstream fetch whose bytes did not match their digest: nothing was stored. */
  "digest_mismatch",
  /** An upstream that was unreachable, stalled or answered wrongly. */
  "upstream_error",
] as const;
export type MirrorEvent = (typeof MIRROR_EVENTS)[number];

export class MirrorStats {
  private readonly counts = new Map<string, Record<MirrorEvent, number>>();

  inc(upstream: string, event: MirrorEvent, by = 1): void {
    let c = this.counts.get(upstream);
    if (!c) {
      c = Object.fromEntries(MIRROR_EVENTS.map((e) => [e, 0])) as Record<MirrorEvent, number>;
      this.counts.set(upstream, c);
    }
    c[event] += by;
  }

  /** Counters of one upstream (zeros when it has seen nothing). */
  of(upstream: string): Record<MirrorEvent, number> {
    return { ...(this.counts.get(upstream) ?? (Object.fromEntries(MIRROR_EVENTS.map((e) => [e, 0])) as Record<MirrorEvent, number>)) };
  }

  /** Every counter as `{upstream, event, value}` rows, for a metrics exporter. */
  snapshot(): { upstream: string; event: MirrorEvent; value: number }[] {
    return [...this.counts].flatMap(([upstream, c]) => MIRROR_EVENTS.map((event) => ({ upstream, event, value: c[event] })));
  }
}
