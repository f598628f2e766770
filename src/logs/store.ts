/**
 * The embedded log store: SQLite in WAL mode. Lines are keyed by (job, attempt, n), so ingest is
 * idempotent; an attempt's end marker tells followers when to stop. Every line and end carries its
 * job's organisation (from the batch's log credential), so a job's org is known here even once its
 * record is gone from the jobs bucket.
 */
import { Database } from "bun:sqlite";
import { privateSqlite } from "../core/private-files.ts";
import type { LogBatch, StoredLine } from "../protocol/log-batch.ts";

export type { StoredLine };

export interface LogStore {
  /** Store a batch of a job of `org` (the credential's, never the batch's own say). */
  ingest(batch: LogBatch, org: string): { inserted: number };
  /** The organisation of a job the store has lines or an end of; null when it has none. */
  orgOf(jobId: string): string | null;
  read(jobId: string, offset: number, limit: number): StoredLine[];
  count(jobId: string): number;
  /** True once the newest attempt that has any line (or an end) has ended. */
  ended(jobId: string): boolean;
  search(jobId: string, text: string, limit: number): StoredLine[];
  close(): void;
}

export function openSqliteLogStore(path: string): LogStore {
  privateSqlite(path); // 0600, and so are its -wal and -shm files
  const db = new Database(path, { create: true, strict: true });
  db.run("pragma journal_mode = wal");
  db.run("pragma synchronous = normal");
  db.run(`create table if not exists lines (
    job_id text not null, attempt integer not null, n integer not null,
    ts integer not null, stream text not null, text text not null, org text not null default 'default',
    primary key (job_id, attempt, n)) without rowid`);
  db.run(`create table if not exists ends (
    job_id text not null, attempt integer not null, lines integer not null, exit_code integer, org text not null default 'default',
    primary key (job_id, attempt)) without rowid`);
  addOrgColumn(db, "lines");
  addOrgColumn(db, "ends");

  const insertLine = db.prepare("insert or ignore into lines (job_id, attempt, n, ts, stream, text, org) values ($job, $attempt, $n, $ts, $stream, $text, $org)");
  const insertEnd = db.prepare("insert or ignore into ends (job_id, attempt, lines, exit_code, org) values ($job, $attempt, $lines, $exit, $org)");
  const orgOfJob = db.prepare<{ org: string }, { job: string }>(
    "select org from (select org from lines where job_id = $job limit 1) union all select org from (select org from ends where job_id = $job limit 1) limit 1",
  );
  const selectLines = db.prepare<StoredLine, { job: string; limit: number; offset: number }>(
    "select attempt, n, ts, stream, text from lines where job_id = $job order by attempt, n limit $limit offset $offset",
  );
  const countLines = db.prepare<{ c: number }, { job: string }>("select count(*) as c from lines where job_id = $job");
  const lastAttempt = db.prepare<{ a: number | null }, { job: string }>(
    "select max(a) as a from (select max(attempt) as a from lines where job_id = $job union all select max(attempt) from ends where job_id = $job)",
  );
  const endOf = db.prepare<{ lines: number }, { job: string; attempt: number }>("select lines from ends where job_id = $job and attempt = $attempt");
  const searchLines = db.prepare<StoredLine, { job: string; pattern: string; limit: number }>(
    "select attempt, n, ts, stream, text from lines where job_id = $job and instr(text, $pattern) > 0 order by attempt, n limit $limit",
  );

  const ingestTx = db.transaction((batch: LogBatch, org: string) => {
    let inserted = 0;
    for (const l of batch.lines)
      inserted += insertLine.run({ job: batch.jobId, attempt: batch.attempt, n: l.n, ts: l.ts, stream: l.stream, text: l.text, org }).changes;
    if (batch.end) insertEnd.run({ job: batch.jobId, attempt: batch.attempt, lines: batch.end.lines, exit: batch.end.exitCode ?? null, org });
    return inserted;
  });

  return {
    ingest: (batch, org) => ({ inserted: ingestTx(batch, org) }),
    orgOf: (jobId) => orgOfJob.get({ job: jobId })?.org ?? null,
    read: (jobId, offset, limit) => selectLines.all({ job: jobId, limit, offset }),
    count: (jobId) => countLines.get({ job: jobId })?.c ?? 0,
    ended(jobId) {
      const a = lastAttempt.get({ job: jobId })?.a;
      return a != null && endOf.get({ job: jobId, attempt: a }) !== null;
    },
    search: (jobId, text, limit) => searchLines.all({ job: jobId, pattern: text, limit }),
    close: () => db.close(),
  };
}

/** A store written before organisations: its lines belong to "default". */
function addOrgColumn(db: Database, table: "lines" | "ends"): void {
  const cols = db.query<{ name: string }, []>(`pragma table_info(${table})`).all();
  if (!cols.some((c) => c.name === "org")) db.run(`alter table ${table} add column org text not null default 'default'`);
}
