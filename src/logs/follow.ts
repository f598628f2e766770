/**
 * Live tail: yield stored lines from `offset`, then new ones as they are ingested, until the job's
 * logs end. Each line comes with `next`, its position + 1: the offset a follower resumes from.
 */
import type { LogStore, StoredLine } from "./store.ts";

export class IngestNotifier {
  private waiters = new Map<string, Set<() => void>>();

  notify(jobId: string): void {
    const set = this.waiters.get(jobId);
    if (!set) return;
    this.waiters.delete(jobId);
    for (const w of set) w();
  }

  /** Resolve at the next ingest for the job, or after `ms`. */
  wait(jobId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(jobId);
      if (!set) this.waiters.set(jobId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

export async function* followLines(
  store: LogStore,
  notifier: IngestNotifier,
  jobId: string,
  offset: number,
  signal: AbortSignal,
): AsyncGenerator<{ line: StoredLine; next: number }> {
  let pos = offset;
  while (!signal.aborted) {
    const ended = await store.ended(jobId); // read before the lines, so no line after the end marker is missed
    const lines = await store.read(jobId, pos, 1000);
    for (const line of lines) yield { line, next: ++pos };
    if (lines.length === 1000) continue;
    if (ended) return;
    await notifier.wait(jobId, 1000, signal);
  }
}
