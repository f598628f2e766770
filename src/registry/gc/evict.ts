/**
 * Quota eviction for one organisation, least recently used first: what no tag of its repository
 * reaches — untagged manifests, and blob links no manifest names (layers of deleted or overwritten
 * images, content pushed but never tagged). A blob an untagged manifest names goes only after that
 * manifest (the scan is repeated after each manifest), so no manifest is left naming blobs its
 * repository lost. Tagged images, their index children and their referrers are never evicted; nor
 * is anything linked, read or held within the grace window (a push in progress). Eviction removes
 * links only; the bytes go at the collector's next sweep once no other link names them.
 * The mirror's repositories (`mirror/...`) are a cache of their upstreams: there tagged manifests go
 * too, least recently used first (a tag whose manifest is gone is fetched again when asked).
 */
import type { Digest } from "../../blobs/digest.ts";
import type { LinkKind } from "../repos.ts";
import { repoOrg } from "../auth/scope.ts";
import { MIRROR_PREFIX } from "../names.ts";
import { fresh, type GcDeps } from "./policy.ts";
import { reachable, snapshot, type RefsCache } from "./snapshot.ts";

interface Candidate {
  repo: string;
  kind: LinkKind;
  digest: Digest;
  lastAccess: number;
}

/** Scans of the org per eviction at most (each manifest evicted costs one). */
const MAX_PASSES = 256;

export interface Evicted {
  links: number;
  bytes: number;
}

async function candidates(d: GcDeps, org: string, now: number, cache: RefsCache): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const repo of await d.repos.repositories(org)) {
    const s = await snapshot(d, repo, cache);
    const tagged = repoOrg(repo) === MIRROR_PREFIX ? new Set<Digest>() : reachable(s, s.tags.values());
    const named = reachable(s, s.manifests.map((m) => m.digest));
    const add = (kind: LinkKind, keep: Set<Digest>) => (l: { digest: Digest; lastAccess: number; linkedAt: number; size: number }) => {
      if (!keep.has(l.digest) && !fresh(l, now, d.policy.graceMs) && !d.pins.inUse(l.digest)) out.push({ repo, kind, digest: l.digest, lastAccess: l.lastAccess });
    };
    s.manifests.forEach(add("manifest", tagged));
    s.blobs.forEach(add("blob", named));
  }
  return out.sort((a, b) => a.lastAccess - b.lastAccess);
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
  const cache: RefsCache = new Map();
  for (let pass = 0; pass < MAX_PASSES && d.usage.bytes(org) > target; pass++) {
    let again = false;
    for (const c of await candidates(d, org, now, cache)) {
      if (d.usage.bytes(org) <= target) break;
      if (!(await remove(d, c))) continue;
      links++;
      d.log.info("registry link evicted", { org, repo: c.repo, kind: c.kind, digest: c.digest, lastAccess: new Date(c.lastAccess).toISOString() });
      // A manifest gone can leave blobs it alone named, older than what comes next: look again.
      if (c.kind === "manifest") {
        again = true;
        break;
      }
    }
    if (!again) break;
  }
  return { links, bytes: Math.max(0, start - d.usage.bytes(org)) };
}
