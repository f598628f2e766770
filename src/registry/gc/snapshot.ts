/**
 * One repository as the collector and eviction see it: its tags, its manifest links (with what each
 * manifest names, read from its stored bytes) and its blob links, each with its last access; and
 * what is reachable from a set of roots. Reading is I/O; `reachable` is pure.
 */
import type { Digest } from "../../blobs/digest.ts";
import type { BlobStore } from "../../blobs/store.ts";
import { parseManifest } from "../manifest.ts";
import type { LinkInfo, RepoStore } from "../repos.ts";

export interface ManifestLink extends LinkInfo {
  subject?: Digest;
}

export interface Refs {
  blobs: Digest[];
  manifests: Digest[];
}

export interface RepoSnapshot {
  repo: string;
  tags: Map<string, Digest>;
  manifests: ManifestLink[];
  blobs: LinkInfo[];
  /** What each manifest names (absent: its bytes are gone or do not parse; it names nothing then). */
  refs: Map<Digest, Refs>;
}

/** A cache of parsed manifests across repositories for one run (a digest's bytes never change). */
export type RefsCache = Map<Digest, Refs | null>;

async function refsOf(blobs: BlobStore, digest: Digest, mediaType: string, cache: RefsCache): Promise<Refs | null> {
  if (cache.has(digest)) return cache.get(digest)!;
  const bytes = await blobs.bytes(digest);
  let refs: Refs | null = null;
  if (bytes) {
    try {
      const m = parseManifest(bytes, mediaType);
      refs = { blobs: m.blobs, manifests: m.manifests };
    } catch {
      refs = null; // stored before a parser change, or damaged: it keeps nothing else alive
    }
  }
  cache.set(digest, refs);
  return refs;
}

export async function snapshot(d: { repos: RepoStore; blobs: BlobStore }, repo: string, cache: RefsCache = new Map()): Promise<RepoSnapshot> {
  const [tags, links, blobs, records] = await Promise.all([d.repos.tagMap(repo), d.repos.links(repo, "manifest"), d.repos.links(repo, "blob"), d.repos.manifests(repo)]);
  const byDigest = new Map(records.map((r) => [r.digest, r]));
  const manifests: ManifestLink[] = [];
  const refs = new Map<Digest, Refs>();
  for (const l of links) {
    const rec = byDigest.get(l.digest);
    if (!rec) continue;
    manifests.push({ ...l, ...(rec.subject ? { subject: rec.subject } : {}) });
    const r = await refsOf(d.blobs, l.digest, rec.mediaType, cache);
    if (r) refs.set(l.digest, r);
  }
  return { repo, tags, manifests, blobs, refs };
}

/**
 * Everything reachable from `roots` in the repository: a manifest's config and layers, an index's
 * child manifests, and every manifest whose subject is reachable (referrers: signatures, SBOMs).
 */
export function reachable(s: RepoSnapshot, roots: Iterable<Digest>): Set<Digest> {
  const bySubject = new Map<Digest, Digest[]>();
  for (const m of s.manifests) if (m.subject) bySubject.set(m.subject, [...(bySubject.get(m.subject) ?? []), m.digest]);
  const live = new Set<Digest>();
  const stack = [...roots];
  while (stack.length) {
    const d = stack.pop()!;
    if (live.has(d)) continue;
    live.add(d);
    const r = s.refs.get(d);
    if (r) stack.push(...r.blobs, ...r.manifests);
    stack.push(...(bySubject.get(d) ?? []));
  }
  return live;
}
