/**
 * Removing entries: one at a time (admin delete, failed commits), past a quota (least recently used
 * first, per repository of an organisation, per organisation and for the whole cache), unused for too long, and
 * uploads abandoned half way. Data is deleted before the index row, so a storage outage leaves the
 * entry for the next sweep instead of orphaning bytes.
 */
import { errorMessage } from "../core/errors.ts";
import { orgQuotaOf, type CacheDeps } from "./deps.ts";
import type { CacheEntry } from "./model.ts";

function objectsOf(d: CacheDeps, e: CacheEntry): string[] {
  return [...new Set([...e.segments.map((s) => s.object), ...d.index.parts(e.id).map((p) => p.object)])];
}

/** Delete an entry's data, then its index row. Throws if storage refuses (the row stays). */
export async function discard(d: CacheDeps, e: CacheEntry, reason: string): Promise<void> {
  await d.store.delete(objectsOf(d, e));
  d.index.remove(e.id);
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
  await run(d.index.unusedSince(now - d.limits.unusedDays * 86_400_000), "unused");
  await run(d.index.abandoned(now - d.limits.uploadTimeoutMinutes * 60_000), "abandoned");
  return out;
}
