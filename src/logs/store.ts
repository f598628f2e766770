/**
 * The embedded log store: SQLite in WAL mode. Lines are keyed by (job, attempt, n), so ingest is
 * idempotent; an attempt's end marker tells followers when to stop.
 */
import { Database } from "bun:sqlite";
import { privateSqlite } from "../core/private-files.ts";
import type { LogBatch, StoredLine } from "../protocol/log-batch.ts";

export type { StoredLine };

export interface LogStore {
  ingest(batch: LogBatch): { inserted: number };
  read(jobId: string, offset: number, limit: number): StoredLine[];
  count(jobId: string): number;
  /** True once the job has any line or end: the store has seen it. */
  known(jobId: string): boolean;
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
    ts integer not null, stream text not null, text text not null,
    primary key (job_id, attempt, n)) without rowid`);
  db.run(`create table if not exists ends (
    job_id text not null, attempt integer not null, lines integer not null, exit_code integer,
    primary key (job_id, attempt)) without rowid`);

  const insertLine = db.prepare("insert or ignore into lines (job_id, attempt, n, ts, stream, text) values ($job, $attempt, $n, $ts, $stream, $text)");
  const insertEnd = db.prepare("insert or ignore into ends (job_id, attempt, lines, exit_code) values ($job, $attempt, $lines, $exit)");
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

  const ingestTx = db.transaction((batch: LogBatch) => {
    let inserted = 0;
    for (const l of batch.lines)
      inserted += insertLine.run({ job: batch.jobId, attempt: batch.attempt, n: l.n, ts: l.ts, stream: l.stream, text: l.text }).changes;
    if (batch.end) insertEnd.run({ job: batch.jobId, attempt: batch.attempt, lines: batch.end.lines, exit: batch.end.exitCode ?? null });
    return inserted;
  });

  return {
    ingest: (batch) => ({ inserted: ingestTx(batch) }),
    read: (jobId, offset, limit) => selectLines.all({ job: jobId, limit, offset }),
    count: (jobId) => countLines.get({ job: jobId })?.c ?? 0,
    known: (jobId) => lastAttempt.get({ job: jobId })?.a != null,
    ended(jobId) {
      const a = lastAttempt.get({ job: jobId })?.a;
      return a != null && endOf.get({ job: jobId, attempt: a }) !== null;
    },
    search: (jobId, text, limit) => searchLines.all({ job: jobId, pattern: text, limit }),
    close: () => db.close(),
  };
}
