/**
 * What a log backend keeps and answers (SQLite embedded: backends/sqlite.ts; ClickHouse:
 * backends/clickhouse.ts). Lines are keyed by (job, attempt, n), so ingest is idempotent; an
 * attempt's end marker tells followers when to stop. Every line carries its job's organisation
 * (from the batch's log credential, never the batch's own say), its agent, its level and step, and
 * its job's repository, workflow, job name and branch (from the job's record), so an org's logs can
 * be searched across jobs even once the records are gone.
 */
import type { LogBatch, StoredLine } from "../protocol/log-batch.ts";
import type { SearchHit } from "../protocol/log-search.ts";
export type { SearchHit };
import type { Node } from "./query/ast.ts";

export type { StoredLine };

import type { JobMeta } from "../jobs/job-meta.ts";
export { NO_META, type JobMeta } from "../jobs/job-meta.ts";

export interface IngestContext {
  org: string;
  agent: string;
  meta: JobMeta;
}

export interface SearchRequest {
  query: Node;
  /** Only this organisation's lines; null: every organisation's (operators). */
  org: string | null;
  /** ms since epoch, inclusive / exclusive. */
  since: number;
  until: number;
  limit: number;
  /** From a previous page's `next`: lines older than this one. */
  after?: SearchCursor;
}

/** A line's position in the newest-first order of a search. */
export interface SearchCursor {
  ts: number;
  jobId: string;
  attempt: number;
  n: number;
}


export interface HistogramRequest {
  query: Node;
  org: string | null;
  since: number;
  until: number;
  bucketMs: number;
}

export interface HistogramBucket {
  /** The bucket's start (ms since epoch, a multiple of bucketMs). */
  t: number;
  level: string;
  count: number;
}

export interface LogStore {
  /** The backend's name (`sqlite`, `clickhouse`). */
  readonly kind: string;
  ingest(batch: LogBatch, ctx: IngestContext): Promise<{ inserted: number }>;
  /** The organisation of a job the store has lines or an end of; null when it has none. */
  orgOf(jobId: string): Promise<string | null>;
  read(jobId: string, offset: number, limit: number): Promise<StoredLine[]>;
  /** One attempt's lines numbered `from` to `to` (inclusive), in order. */
  lines(jobId: string, attempt: number, from: number, to: number): Promise<StoredLine[]>;
  count(jobId: string): Promise<number>;
  /** True once the newest attempt that has any line (or an end) has ended. */
  ended(jobId: string): Promise<boolean>;
  /** Lines of one job containing `text` (case-insensitive). */
  searchJob(jobId: string, text: string, limit: number): Promise<StoredLine[]>;
  /** Lines across jobs matching a query, newest first. */
  search(r: SearchRequest): Promise<SearchHit[]>;
  /** Matching lines per time bucket and level. */
  histogram(r: HistogramRequest): Promise<HistogramBucket[]>;
  close(): Promise<void>;
}
