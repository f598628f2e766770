/**
 * A read model of every job record, kept current by a KV watch. Each control-plane replica keeps
 * its own; NATS stays the only source of truth (writes never go through this).
 */
import type { KV } from "@nats-io/kv";
import { KvMirror, type Changed } from "../nats/kv-mirror.ts";
import { ACTIVE, type JobRecord, type JobState } from "./record.ts";
import { orgOf } from "./org.ts";

export interface JobQuery {
  state?: JobState;
  /** Only this organisation's jobs (src/auth/principal.ts `listingOrg` decides it; null or absent: every org). */
  org?: string | null;
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

  /** `onChange`: every record change seen after the start (the job metrics watch transitions with it). */
  static async start(kv: KV, onChange?: Changed<JobRecord>): Promise<JobIndex> {
    return new JobIndex(await KvMirror.start(kv, (e) => parseRecord(e.string()), onChange));
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<JobRecord> {
    return this.jobs.values();
  }

  /** Newest first; filtered by state and org on the server, before the limit. */
  list(q: JobQuery = {}): JobRecord[] {
    const out: JobRecord[] = [];
    for (const j of this.inOrg(q.org)) if (!q.state || j.state === q.state) out.push(j);
    out.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    return out.slice(0, q.limit ?? 100);
  }

  /** Jobs by state, of one org or (null, absent) of every org. */
  countByState(org?: string | null): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const j of this.inOrg(org)) counts[j.state] = (counts[j.state] ?? 0) + 1;
    return counts;
  }

  /** One org's jobs waiting or in flight, per pool (the queue as that org sees it). */
  poolLoad(org: string): Record<string, number> {
    const pools: Record<string, number> = {};
    for (const j of this.inOrg(org)) if (j.state === "queued" || ACTIVE.has(j.state)) pools[j.pool] = (pools[j.pool] ?? 0) + 1;
    return pools;
  }

  /** The organisations that have jobs, sorted. */
  orgs(): string[] {
    const seen = new Set<string>();
    for (const j of this.jobs.values()) seen.add(orgOf(j));
    return [...seen].sort();
  }

  private *inOrg(org: string | null | undefined): Iterable<JobRecord> {
    for (const j of this.jobs.values()) if (org == null || orgOf(j) === org) yield j;
  }

  stop(): void {
    this.jobs.stop();
  }
}
