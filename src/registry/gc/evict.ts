/**
 * Quota eviction for one organisation, least recently used first: what no tag of its repository
 * reaches — untagged manifests (with whatever only they named) and blob links no tagged manifest
 * names (layers of deleted or overwritten images, content pushed but never tagged). Tagged images,
 * their index children and their referrers are never evicted; nor is anything linked, read or held
 * within the grace window (a push in progress). Eviction removes links only; the bytes go at the
 * collector's next sweep once no other link names them.
 */
import type { Digest } from "../../blobs/digest.ts";
import type { LinkKind } from "../repos.ts";
import { fresh, type GcDeps } from "./policy.ts";
import { reachable, snapshot, type RefsCache } from "./snapshot.ts";

interface Candidate {
  repo: string;
  kind: LinkKind;
  digest: Digest;
  lastAccess: number;
}

export interface Evicted {
  links: number;
  bytes: number;
}

async function candidates(d: GcDeps, org: string, now: number, cache: RefsCache): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const repo of await d.repos.repositories(org)) {
    const s = await snapshot(d, repo, cache);
    const live = reachable(s, s.tags.values());
    const add = (kind: LinkKind) => (l: { digest: Digest; lastAccess: number; linkedAt: number; size: number }) => {
      if (!live.has(l.digest) && !fresh(l, now, d.policy.graceMs) && !d.pins.inUse(l.digest)) out.push({ repo, kind, digest: l.digest, lastAccess: l.lastAccess });
    };
    s.manifests.forEach(add("manifest"));
    s.blobs.forEach(add("blob"));
  }
  // Oldest access first; a manifest before the blobs of the same age (its blobs may then go with it).
  return out.sort((a, b) => a.lastAccess - b.lastAccess || (a.kind === b.kind ? 0 : a.kind === "manifest" ? -1 : 1));
}

async function remove(d: GcDeps, c: Candidate): Promise<boolean> {
  const done = d.pins.claim(c.digest);
  if (!done) return false;
  try {
    return c.kind === "manifest" ? await d.repos.deleteManifest(c.repo, c.digest) : await d.repos.unlinkBlob(c.repo, c.digest);
  } finally {
    done();
  }
}

/** Evict until the org uses at most `target` bytes or nothing evictable is left. */
export async function evictOrg(d: GcDeps, org: string, target: number, now = Date.now()): Promise<Evicted> {
  const start = d.usage.bytes(org);
  let links = 0;
  for (let pass = 0; pass < 8 && d.usage.bytes(org) > target; pass++) {
    const list = await candidates(d, org, now, new Map());
    let manifests = 0;
    for (const c of list) {
      if (d.usage.bytes(org) <= target) break;
      if (!(await remove(d, c))) continue;
      links++;
      if (c.kind === "manifest") manifests++;
      d.log.info("registry link evicted", { org, repo: c.repo, kind: c.kind, digest: c.digest, lastAccess: new Date(c.lastAccess).toISOString() });
    }
    if (manifests === 0) break; // removing manifests can orphan blobs they alone named: look again
  }
  return { links, bytes: Math.max(0, start - d.usage.bytes(org)) };
}
