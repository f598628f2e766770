/**
 * A read model of every job record, kept current by a KV watch. Each control-plane replica keeps
 * its own; NATS stays the only source of truth (writes never go through this).
 */
import type { KV } from "@nats-io/kv";
import { KvMirror } from "../nats/kv-mirror.ts";
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
  private constructor(private readonly jobs: KvMirror<JobRecord>) {}

  static async start(kv: KV): Promise<JobIndex> {
    return new JobIndex(await KvMirror.start(kv, (e) => parseRecord(e.string())));
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
    this.jobs.stop();
  }
}
