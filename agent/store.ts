/**
 * The agent's local truth in SQLite (bun:sqlite): jobs it runs (with their driver instances and
 * lease revisions), the spool of log lines not yet accepted by the log service and each spooled
 * attempt's log credential. Restarts reconcile from here instead of orphaning. Uses only API shared
 * with better-sqlite3.
 *
 * The log credentials are kept here (the file is 0600, its directory 0700) so lines spooled before a
 * restart still ship afterwards: the lease, and with it a fresh credential, is gone by then. What
 * one lets its holder do is narrow — write lines of one attempt of one job, signed as this agent,
 * until it expires (the job's timeout plus a grace) — and it goes with the attempt's spool.
 */
import { Database } from "bun:sqlite";
import { privateSqlite } from "../src/core/private-files.ts";
import type { Instance, OutputStream } from "./drivers/types.ts";

export interface RunRow {
  jobId: string;
  attempt: number;
  leaseRevision: number;
  instance: Instance | null;
  startedAt: number;
}

export interface SpoolLine {
  jobId: string;
  attempt: number;
  n: number;
  ts: number;
  stream: OutputStream;
  text: string;
}

export interface SpoolEnd {
  jobId: string;
  attempt: number;
  lines: number;
  exitCode: number | null;
}

export class AgentStore {
  private readonly db: Database;

  constructor(dir: string) {
    privateSqlite(`${dir}/agent.sqlite`); // its directory 0700, the file and its -wal/-shm 0600
    this.db = new Database(`${dir}/agent.sqlite`, { create: true, strict: true });
    this.db.run("pragma journal_mode = wal");
    this.db.run("pragma synchronous = normal");
    this.db.run(`create table if not exists runs (job_id text not null, attempt integer not null, lease_revision integer not null,
      instance text, started_at integer not null, primary key (job_id, attempt))`);
    this.db.run(`create table if not exists spool (job_id text not null, attempt integer not null, n integer not null,
      ts integer not null, stream text not null, text text not null, primary key (job_id, attempt, n))`);
    this.db.run(`create table if not exists spool_ends (job_id text not null, attempt integer not null, lines integer not null,
      exit_code integer, primary key (job_id, attempt))`);
    this.db.run("create table if not exists meta (key text primary key, value text not null)");
    this.db.run(`create table if not exists log_credentials (job_id text not null, attempt integer not null, token text not null,
      primary key (job_id, attempt))`);
  }

  meta(key: string): string | null {
    return this.db.query<{ value: string }, [string]>("select value from meta where key = ?").get(key)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.query("insert into meta (key, value) values (?, ?) on conflict(key) do update set value = excluded.value").run(key, value);
  }

  putRun(r: RunRow): void {
    this.db
      .query("insert or replace into runs (job_id, attempt, lease_revision, instance, started_at) values (?, ?, ?, ?, ?)")
      .run(r.jobId, r.attempt, r.leaseRevision, r.instance ? JSON.stringify(r.instance) : null, r.startedAt);
  }

  deleteRun(jobId: string, attempt: number): void {
    this.db.query("delete from runs where job_id = ? and attempt = ?").run(jobId, attempt);
  }

  runs(): RunRow[] {
    type Row = { job_id: string; attempt: number; lease_revision: number; instance: string | null; started_at: number };
    return this.db
      .query<Row, []>("select * from runs")
      .all()
      .map((r) => ({ jobId: r.job_id, attempt: r.attempt, leaseRevision: r.lease_revision, instance: r.instance ? JSON.parse(r.instance) : null, startedAt: r.started_at }));
  }

  spoolLines(lines: SpoolLine[]): void {
    const ins = this.db.query("insert or ignore into spool (job_id, attempt, n, ts, stream, text) values (?, ?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const l of lines) ins.run(l.jobId, l.attempt, l.n, l.ts, l.stream, l.text);
    })();
  }

  spoolEnd(e: SpoolEnd): void {
    this.db.query("insert or replace into spool_ends (job_id, attempt, lines, exit_code) values (?, ?, ?, ?)").run(e.jobId, e.attempt, e.lines, e.exitCode);
  }

  /**
   * The next batch to ship: the attempt of the oldest unsent line, else an ended attempt; attempts for
   * which `busy` says a batch is already in flight are passed over (their lines must go in order).
   */
  nextBatch(limit: number, busy: (jobId: string, attempt: number) => boolean = () => false): { lines: SpoolLine[]; end: SpoolEnd | null } | null {
    const key = this.oldestAttempt(busy) ?? this.endedAttempt(busy);
    return key ? this.batchOf(key.jobId, key.attempt, limit) : null;
  }

  /** The attempt of the oldest unsent line, unless `busy`. */
  oldestAttempt(busy: (jobId: string, attempt: number) => boolean = () => false): { jobId: string; attempt: number } | null {
    const k = this.db.query<{ jobId: string; attempt: number }, []>("select job_id as jobId, attempt from spool order by rowid limit 1").get();
    return k && !busy(k.jobId, k.attempt) ? k : null;
  }

  /** An attempt whose end is spooled (its job waits for it to ship), oldest first, not `busy`: at most `skip` are. */
  endedAttempt(busy: (jobId: string, attempt: number) => boolean = () => false, skip = 16): { jobId: string; attempt: number } | null {
    const rows = this.db.query<{ jobId: string; attempt: number }, [number]>("select job_id as jobId, attempt from spool_ends order by rowid limit ?").all(skip + 1);
    return rows.find((k) => !busy(k.jobId, k.attempt)) ?? null;
  }

  /** The oldest unsent lines of one (job, attempt), and its end marker if every line is in this slice; null when nothing is spooled for it. */
  batchOf(jobId: string, attempt: number, limit: number): { lines: SpoolLine[]; end: SpoolEnd | null } | null {
    const lines = this.db
      .query<SpoolLine, [string, number, number]>(
        "select job_id as jobId, attempt, n, ts, stream, text from spool where job_id = ? and attempt = ? order by n limit ?",
      )
      .all(jobId, attempt, limit);
    const remaining = lines.length < limit ? lines.length : this.db.query<{ c: number }, [string, number]>("select count(*) as c from spool where job_id = ? and attempt = ?").get(jobId, attempt)!.c;
    const end =
      remaining === lines.length
        ? this.db
            .query<SpoolEnd, [string, number]>("select job_id as jobId, attempt, lines, exit_code as exitCode from spool_ends where job_id = ? and attempt = ?")
            .get(jobId, attempt)
        : null;
    return lines.length || end ? { lines, end } : null;
  }

  /** Forget what the log service accepted; once the end is accepted the attempt's credential goes too. */
  ackBatch(jobId: string, attempt: number, maxN: number, endSent: boolean): void {
    this.db.transaction(() => {
      this.db.query("delete from spool where job_id = ? and attempt = ? and n <= ?").run(jobId, attempt, maxN);
      if (endSent) {
        this.db.query("delete from spool_ends where job_id = ? and attempt = ?").run(jobId, attempt);
        this.db.query("delete from log_credentials where job_id = ? and attempt = ?").run(jobId, attempt);
      }
    })();
  }

  /** Drop everything spooled for an attempt the log service will never take (no or a refused credential). */
  dropSpool(jobId: string, attempt: number): void {
    this.db.transaction(() => {
      for (const t of ["spool", "spool_ends", "log_credentials"]) this.db.query(`delete from ${t} where job_id = ? and attempt = ?`).run(jobId, attempt);
    })();
  }

  putLogCredential(jobId: string, attempt: number, token: string): void {
    this.db.query("insert or replace into log_credentials (job_id, attempt, token) values (?, ?, ?)").run(jobId, attempt, token);
  }

  logCredential(jobId: string, attempt: number): string | null {
    return this.db.query<{ token: string }, [string, number]>("select token from log_credentials where job_id = ? and attempt = ?").get(jobId, attempt)?.token ?? null;
  }

  pending(jobId: string, attempt: number): number {
    const a = this.db.query<{ c: number }, [string, number]>("select count(*) as c from spool where job_id = ? and attempt = ?").get(jobId, attempt)!.c;
    const b = this.db.query<{ c: number }, [string, number]>("select count(*) as c from spool_ends where job_id = ? and attempt = ?").get(jobId, attempt)!.c;
    return a + b;
  }

  close(): void {
    this.db.close();
  }
}
