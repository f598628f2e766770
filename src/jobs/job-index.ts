/**
 * A read model of every job record, kept current by a KV watch. Each control-plane replica keeps
 * its own; NATS stays the only source of truth (writes never go through this).
 */
import type { KV } from "@nats-io/kv";
import type { JobRecord, JobState } from "./record.ts";

export interface JobQuery {
  state?: JobState;
  limit?: number;
}

/** A value that is not a job record (written by something else) is left out, never fatal. */
function parseRecord(text: string): JobRecord | null {
  try {
    const v = JSON.parse(text) as JobRecord;
    return v && typeof v.id === "string" && typeof v.state === "string" ? v : null;
  } catch {
    return null;
  }
}

export class JobIndex {
  private readonly jobs = new Map<string, JobRecord>();
  private stopWatch: (() => void) | undefined;

  private constructor() {}

  static async start(kv: KV): Promise<JobIndex> {
    const index = new JobIndex();
    const initial = (await kv.status()).values;
    const watch = await kv.watch();
    index.stopWatch = () => watch.stop();
    let seen = 0;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    if (initial === 0) markReady();
    (async () => {
      for await (const e of watch) {
        const record = e.operation === "PUT" && e.value.length ? parseRecord(e.string()) : null;
        if (record) index.jobs.set(e.key, record);
        else index.jobs.delete(e.key);
        if (++seen >= initial || e.isUpdate) markReady();
      }
    })();
    await ready;
    return index;
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<JobRecord> {
    return this.jobs.values();
  }

  /** Newest first. */
  list(q: JobQuery = {}): JobRecord[] {
    const out: JobRecord[] = [];
    for (const j of this.jobs.values()) if (!q.state || j.state === q.state) out.push(j);
    out.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    return out.slice(0, q.limit ?? 100);
  }

  countByState(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const j of this.jobs.values()) counts[j.state] = (counts[j.state] ?? 0) + 1;
    return counts;
  }

  stop(): void {
    this.stopWatch?.();
  }
}
