/**
 * Abandoned uploads: a session whose upload got no new bytes for the idle window (its temp file's
 * last write, or the session's start) is removed with its temp file; a temp file no session names
 * (a monolithic upload cut by a crash) goes once it is as old; a session whose temp file is gone is
 * removed too.
 */
import type { GcDeps } from "./policy.ts";

export async function removeAbandonedUploads(d: Pick<GcDeps, "blobs" | "sessions" | "policy" | "log">, now: number, dryRun: boolean): Promise<number> {
  const idle = d.policy.uploadIdleMs;
  const temps = new Map((await d.blobs.temps()).map((t) => [t.id, t]));
  let removed = 0;
  const sessions = await d.sessions.list();
  const named = new Set(sessions.map((s) => s.id));
  for (const s of sessions) {
    const t = temps.get(s.id);
    if (now - Math.max(s.startedAt, t?.mtimeMs ?? 0) < idle) continue;
    removed++;
    if (dryRun) continue;
    await d.sessions.remove(s.id);
    await d.blobs.discard(s.id);
    d.log.info("abandoned registry upload removed", { repo: s.repo, upload: s.id, bytes: t?.size ?? 0 });
  }
  for (const t of temps.values()) {
    if (named.has(t.id) || now - t.mtimeMs < idle) continue;
    removed++;
    if (!dryRun) await d.blobs.discard(t.id);
  }
  return removed;
}
