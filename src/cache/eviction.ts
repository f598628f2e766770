/**
 * Removing entries: one at a time (admin delete, failed commits), past a quota (least recently used
 * first, per repository of an organisation, per organisation and for the whole cache, counted over
 * every replica's entries), unused for too long, and uploads abandoned half way. Data is deleted
 * before the entry, so a storage outage leaves the entry for the next sweep instead of orphaning bytes.
 */
import { errorMessage } from "../core/errors.ts";
import { orgQuotaOf, type CacheDeps } from "./deps.ts";
import type { CacheEntry } from "./model.ts";
import { objectsOf } from "./shared/entries.ts";

/**
 * Delete an entry's data, then the entry; throws if storage refuses (the entry stays). Data another
 * replica holds is left to it: the entry is marked deleting and its home finishes (shared/entries.ts).
 */
export async function discard(d: CacheDeps, e: CacheEntry, reason: string): Promise<void> {
  if (d.entries.holdsData(e)) {
    await d.store.delete(objectsOf(d.index, e));
    await d.entries.remove(e);
  } else await d.entries.markDeleting(e);
  d.placer?.forget(e.id);
  d.metrics.evictions.inc({ reason });
  d.log.info("cache entry removed", { id: e.id, repo: e.repo, key: e.key, reason });
}

/** Discard without throwing: used on error paths where the original error matters more. */
export async function discardQuietly(d: CacheDeps, e: CacheEntry, reason: string): Promise<void> {
  try {
    await discard(d, e, reason);
  } catch (err) {
    d.log.warn("could not remove cache entry now; the sweeper will retry", { id: e.id, reason, error: errorMessage(err) });
  }
}

async function evictLru(d: CacheDeps, scope: { repo?: string; org?: string }, used: () => number, quota: number, keep: number, reason: string) {
  if (quota <= 0) return;
  while (used() > quota) {
    const victim = d.index.lru(scope, 50).find((e) => e.id !== keep);
    if (!victim) return;
    await discard(d, victim, reason);
  }
}

/** After a commit: bring the org's repository, the org and the whole cache back under their caps. */
export async function enforceQuotas(d: CacheDeps, entry: CacheEntry): Promise<void> {
  const { repoQuotaBytes, maxTotalBytes } = d.limits;
  const usage = (by: "repo" | "org", name: string) => d.index.usage(by, name, entry.org)[0]?.bytes ?? 0;
  await evictLru(d, { org: entry.org, repo: entry.repo }, () => usage("repo", entry.repo), repoQuotaBytes, entry.id, "repo_quota");
  await evictLru(d, { org: entry.org }, () => usage("org", entry.org), orgQuotaOf(d, entry.org), entry.id, "org_quota");
  await evictLru(d, {}, () => d.index.totalBytes(), maxTotalBytes, entry.id, "size_cap");
}

export interface SweepResult {
  unused: number;
  abandoned: number;
  failed: number;
}

/** Periodic cleanup: entries unused for `unusedDays`, uploads idle for `uploadTimeoutMinutes`. */
export async function sweep(d: CacheDeps): Promise<SweepResult> {
  const now = d.now();
  const out: SweepResult = { unused: 0, abandoned: 0, failed: 0 };
  const run = async (list: CacheEntry[], reason: "unused" | "abandoned") => {
    for (const e of list) {
      try {
        await discard(d, e, reason);
        out[reason] += 1;
      } catch {
        out.failed += 1;
      }
    }
  };
  // Each replica sweeps the entries it took; entries others marked deleting are finished here too.
  const home = d.entries.self.home;
  await run(d.index.unusedSince(now - d.limits.unusedDays * 86_400_000, home), "unused");
  await run(d.index.abandoned(now - d.limits.uploadTimeoutMinutes * 60_000, home), "abandoned");
  await d.entries.reap();
  return out;
}
