/**
 * Online garbage collection, safe while pushes and pulls go on:
 * 1. abandoned uploads go (./uploads.ts);
 * 2. organisations past their soft quota threshold are evicted down to it (./evict.ts);
 * 3. mark, per repository: the roots are its tags, its untagged manifests linked or read within the
 *    untagged window, and every link made or read within the grace window; from them, manifests'
 *    configs and layers, indexes' children and referrers of anything live (./snapshot.ts). Links
 *    nothing live reaches are removed (a manifest link, or a blob link: the repository forgets it);
 * 4. sweep: a stored blob no remaining link of any repository names, committed (or re-committed)
 *    before the grace window, is deleted.
 * Every removal first claims its digest (../pins.ts): a digest a push holds, or that was held or
 * read within the grace window, is kept this run. Returns the run's figures (for the admin route,
 * the log and metrics). `dryRun` removes nothing and counts what would go.
 */
import type { Digest } from "../../blobs/digest.ts";
import type { Quota } from "../quota/quota.ts";
import { evictOrg } from "./evict.ts";
import { fresh, type GcDeps } from "./policy.ts";
import { reachable, snapshot, type RefsCache, type RepoSnapshot } from "./snapshot.ts";
import { removeAbandonedUploads } from "./uploads.ts";
import type { GcReport } from "../../protocol/registry-admin.ts";

export type { GcReport };

export interface GcOptions {
  dryRun?: boolean;
}

interface Tally {
  manifests: number;
  blobLinks: number;
}

function liveOf(d: GcDeps, s: RepoSnapshot, now: number): Set<Digest> {
  const { graceMs, untaggedMs } = d.policy;
  const roots: Digest[] = [...s.tags.values()];
  for (const m of s.manifests) if (fresh(m, now, graceMs) || fresh(m, now, untaggedMs)) roots.push(m.digest);
  for (const b of s.blobs) if (fresh(b, now, graceMs)) roots.push(b.digest);
  return reachable(s, roots);
}

/** Remove a link nothing live reaches; false when its digest is in use (it is then kept). */
async function unlink(d: GcDeps, repo: string, kind: "manifest" | "blob", digest: Digest, dryRun: boolean): Promise<boolean> {
  if (dryRun) return !d.pins.inUse(digest);
  const done = d.pins.claim(digest);
  if (!done) return false;
  try {
    if (kind === "manifest") await d.repos.deleteManifest(repo, digest);
    else await d.repos.unlinkBlob(repo, digest);
    return true;
  } finally {
    done();
  }
}

/** Mark one repository and drop its dead links; adds what it keeps to `marked`. */
async function markRepo(d: GcDeps, repo: string, now: number, cache: RefsCache, marked: Set<Digest>, t: Tally, dryRun: boolean) {
  const s = await snapshot(d, repo, cache);
  const live = liveOf(d, s, now);
  for (const [kind, links] of [["manifest", s.manifests], ["blob", s.blobs]] as const) {
    for (const l of links) {
      if (live.has(l.digest)) marked.add(l.digest);
      else if (await unlink(d, repo, kind, l.digest, dryRun)) t[kind === "manifest" ? "manifests" : "blobLinks"]++;
      else marked.add(l.digest);
    }
  }
}

async function sweep(d: GcDeps, marked: Set<Digest>, now: number, dryRun: boolean): Promise<{ blobs: number; bytes: number }> {
  const out = { blobs: 0, bytes: 0 };
  for await (const b of d.blobs.list()) {
    if (marked.has(b.digest) || now - b.mtimeMs < d.policy.graceMs) continue;
    if (dryRun) {
      if (!d.pins.inUse(b.digest)) (out.blobs++, (out.bytes += b.size));
      continue;
    }
    const done = d.pins.claim(b.digest);
    if (!done) continue;
    try {
      // Checked again under the claim: a push that re-committed it since the listing refreshed its mtime.
      const st = await d.blobs.stat(b.digest);
      if (!st || now - st.mtimeMs < d.policy.graceMs) continue;
      await d.blobs.delete(b.digest);
      out.blobs++;
      out.bytes += st.size;
    } finally {
      done();
    }
  }
  return out;
}

async function evictOverSoft(d: GcDeps, quota: Quota | undefined, now: number, dryRun: boolean) {
  const out = { links: 0, bytes: 0 };
  if (!quota || dryRun) return out;
  for (const { org, bytes } of d.usage.all()) {
    const limit = quota.limitOf(org);
    const soft = Math.floor((limit * quota.q.softPercent) / 100);
    if (limit <= 0 || bytes <= soft) continue;
    const e = await evictOrg(d, org, soft, now);
    out.links += e.links;
    out.bytes += e.bytes;
  }
  return out;
}

export async function collectGarbage(d: GcDeps, quota: Quota | undefined, o: GcOptions = {}): Promise<GcReport> {
  const started = Date.now();
  const now = started; // one clock for the run: later commits only look fresher
  const dryRun = o.dryRun === true;
  d.pins.prune();
  const uploadsRemoved = await removeAbandonedUploads(d, now, dryRun);
  const evicted = await evictOverSoft(d, quota, now, dryRun);
  const repos = await d.repos.repositories();
  const marked = new Set<Digest>();
  const tally: Tally = { manifests: 0, blobLinks: 0 };
  const cache: RefsCache = new Map();
  for (const repo of repos) await markRepo(d, repo, now, cache, marked, tally, dryRun);
  const swept = await sweep(d, marked, now, dryRun);
  return {
    dryRun, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, repositories: repos.length, marked: marked.size,
    manifestsRemoved: tally.manifests, blobLinksRemoved: tally.blobLinks, blobsSwept: swept.blobs, bytesSwept: swept.bytes,
    uploadsRemoved, evictedLinks: evicted.links, evictedBytes: evicted.bytes,
  };
}
