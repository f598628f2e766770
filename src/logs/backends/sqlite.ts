/**
 * The embedded log backend: SQLite in WAL mode (the default; one log service per store). Lines are
 * keyed by (job, attempt, n); a job's record fields are kept once per job (`job_meta`), an attempt's
 * end in `ends`. Searches run over an (org, ts) index with the query compiled to a parameterised
 * condition (query/sqlite.ts). A store written by an earlier version gains the new columns empty.
 */
import { Database } from "bun:sqlite";
import { privateSqlite } from "../../core/private-files.ts";
import { levelOf, stepStarted } from "../line-facts.ts";
import { compileSqlite, STATUS_SQL } from "../query/sqlite.ts";
import { jsRegex } from "../query/regex.ts";
import type { HistogramBucket, LogStore, SearchHit, StoredLine } from "../store.ts";

/** Attempts whose current step is remembered between batches (older ones are read back from the store). */
const STEPS_KEPT = 10_000;

export interface SqliteLogOptions {
  /** Lines (and ends) older than this are deleted, once at open and then hourly. Absent: kept. */
  retentionDays?: number;
  now?: () => number;
}

const PRUNE_EVERY_MS = 3_600_000;
const ROWS_PER_INSERT = 100;
/** Rows deleted per statement while pruning (a long delete would hold the write lock from ingest). */
const PRUNE_CHUNK = 50_000;

export function openSqliteLogStore(path: string, opts: SqliteLogOptions = {}): LogStore & { prune(): number } {
  privateSqlite(path); // 0600, and so are its -wal and -shm files
  const db = new Database(path, { create: true, strict: true });
  db.run("pragma journal_mode = wal");
  db.run("pragma synchronous = normal");
  db.run(`create table if not exists lines (
    job_id text not null, attempt integer not null, n integer not null,
    ts integer not null, stream text not null, text text not null, org text not null default 'default',
    level text not null default 'info', step text not null default '', agent text not null default '',
    primary key (job_id, attempt, n)) without rowid`);
  db.run(`create table if not exists ends (
    job_id text not null, attempt integer not null, lines integer not null, exit_code integer, org text not null default 'default',
    primary key (job_id, attempt)) without rowid`);
  db.run(`create table if not exists job_meta (
    job_id text primary key, org text not null, repo text not null, workflow text not null, job_name text not null, branch text not null) without rowid`);
  addColumn(db, "lines", "org", "text not null default 'default'");
  addColumn(db, "ends", "org", "text not null default 'default'");
  addColumn(db, "lines", "level", "text not null default 'info'");
  addColumn(db, "lines", "step", "text not null default ''");
  addColumn(db, "lines", "agent", "text not null default ''");
  addColumn(db, "ends", "at", "integer not null default 0");
  addColumn(db, "job_meta", "at", "integer not null default 0");
  db.run("create index if not exists lines_org_ts on lines (org, ts)");
  db.function("nimbus_regexp", (source: string, flags: string, text: string) => (jsRegex(source, flags).test(text) ? 1 : 0));

  // Lines go in ROWS_PER_INSERT to a statement: one statement step per line cost ~30 % of ingest.
  const insertSql = (rows: number) => `insert or ignore into lines (job_id, attempt, n, ts, stream, text, org, level, step, agent) values ${Array(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;
  const insertMany = db.prepare<unknown, (string | number)[]>(insertSql(ROWS_PER_INSERT));
  const insertFew = new Map<number, ReturnType<typeof db.prepare<unknown, (string | number)[]>>>();
  const insertRows = (params: (string | number)[], rows: number): number => {
    if (rows === ROWS_PER_INSERT) return insertMany.run(...params).changes;
    let q = insertFew.get(rows);
    if (!q) insertFew.set(rows, (q = db.prepare<unknown, (string | number)[]>(insertSql(rows))));
    return q.run(...params).changes;
  };
  const insertEnd = db.prepare("insert or ignore into ends (job_id, attempt, lines, exit_code, org, at) values ($job, $attempt, $lines, $exit, $org, $at)");
  const insertMeta = db.prepare("insert or ignore into job_meta (job_id, org, repo, workflow, job_name, branch, at) values ($job, $org, $repo, $workflow, $name, $branch, $at)");
  const orgOfJob = db.prepare<{ org: string }, { job: string }>(
    "select org from (select org from lines where job_id = $job limit 1) union all select org from (select org from ends where job_id = $job limit 1) limit 1",
  );
  const selectLines = db.prepare<StoredLine, { job: string; limit: number; offset: number }>(
    "select attempt, n, ts, stream, text from lines where job_id = $job order by attempt, n limit $limit offset $offset",
  );
  const rangeLines = db.prepare<StoredLine, { job: string; attempt: number; from: number; to: number }>(
    "select attempt, n, ts, stream, text from lines where job_id = $job and attempt = $attempt and n between $from and $to order by n",
  );
  const countLines = db.prepare<{ c: number }, { job: string }>("select count(*) as c from lines where job_id = $job");
  const lastAttempt = db.prepare<{ a: number | null }, { job: string }>(
    "select max(a) as a from (select max(attempt) as a from lines where job_id = $job union all select max(attempt) from ends where job_id = $job)",
  );
  const endOf = db.prepare<{ lines: number }, { job: string; attempt: number }>("select lines from ends where job_id = $job and attempt = $attempt");
  const searchLines = db.prepare<StoredLine, { job: string; pattern: string; limit: number }>(
    "select attempt, n, ts, stream, text from lines where job_id = $job and instr(lower(text), lower($pattern)) > 0 order by attempt, n limit $limit",
  );
  const lastStep = db.prepare<{ step: string }, { job: string; attempt: number }>("select step from lines where job_id = $job and attempt = $attempt order by n desc limit 1");

  const orgs = db.prepare<{ org: string }, []>("select distinct org from lines");
  const pruneLines = db.prepare<unknown, { org: string; before: number; chunk: number }>(
    "delete from lines where (job_id, attempt, n) in (select job_id, attempt, n from lines where org = $org and ts < $before limit $chunk)",
  );
  // An end or a job's fields go with the retention too (by when they were stored), unless lines of the job are still kept.
  const pruneRest = [
    db.prepare<unknown, { before: number }>("delete from ends where at < $before and not exists (select 1 from lines l where l.job_id = ends.job_id)"),
    db.prepare<unknown, { before: number }>("delete from job_meta where at < $before and not exists (select 1 from lines l where l.job_id = job_meta.job_id)"),
  ];
  /** Delete what is past the retention; returns the lines deleted. */
  const prune = (): number => {
    if (!opts.retentionDays) return 0;
    const before = (opts.now?.() ?? Date.now()) - opts.retentionDays * 86_400_000;
    let deleted = 0;
    for (const { org } of orgs.all())
      for (;;) {
        const n = pruneLines.run({ org, before, chunk: PRUNE_CHUNK }).changes;
        deleted += n;
        if (n < PRUNE_CHUNK) break;
      }
    for (const q of pruneRest) q.run({ before });
    return deleted;
  };
  prune();
  const pruner = opts.retentionDays ? setInterval(prune, PRUNE_EVERY_MS) : undefined;
  pruner?.unref?.();
  const steps = new Map<string, string>();
  const stepOf = (job: string, attempt: number): string => {
    const k = `${job}\0${attempt}`;
    let s = steps.get(k);
    if (s === undefined) s = lastStep.get({ job, attempt })?.step ?? "";
    steps.delete(k);
    if (steps.size >= STEPS_KEPT) steps.delete(steps.keys().next().value!);
    steps.set(k, s);
    return s;
  };

  const ingestTx = db.transaction((batch: Parameters<LogStore["ingest"]>[0], ctx: Parameters<LogStore["ingest"]>[1]) => {
    const { org, agent, meta } = ctx;
    const at = opts.now?.() ?? Date.now();
    insertMeta.run({ job: batch.jobId, org, repo: meta.repo, workflow: meta.workflow, name: meta.jobName, branch: meta.branch, at });
    let step = stepOf(batch.jobId, batch.attempt);
    let inserted = 0;
    let params: (string | number)[] = [];
    let rows = 0;
    for (const l of batch.lines) {
      step = stepStarted(l.text) ?? step;
      params.push(batch.jobId, batch.attempt, l.n, l.ts, l.stream, l.text, org, levelOf(l.text, l.stream), step, agent);
      if (++rows === ROWS_PER_INSERT) {
        inserted += insertRows(params, rows);
        params = [];
        rows = 0;
      }
    }
    if (rows) inserted += insertRows(params, rows);
    steps.set(`${batch.jobId}\0${batch.attempt}`, step);
    if (batch.end) insertEnd.run({ job: batch.jobId, attempt: batch.attempt, lines: batch.end.lines, exit: batch.end.exitCode ?? null, org, at });
    return inserted;
  });

  const FROM = "from lines l left join job_meta m on m.job_id = l.job_id left join ends e on e.job_id = l.job_id and e.attempt = l.attempt";
  const scope = (org: string | null, since: number, until: number, params: (string | number)[]) => {
    params.push(since, until);
    if (org === null) return "l.ts >= ? and l.ts < ?";
    params.unshift(org);
    return "l.org = ? and l.ts >= ? and l.ts < ?";
  };

  return {
    kind: "sqlite",
    ingest: async (batch, ctx) => ({ inserted: ingestTx(batch, ctx) }),
    orgOf: async (jobId) => orgOfJob.get({ job: jobId })?.org ?? null,
    read: async (jobId, offset, limit) => selectLines.all({ job: jobId, limit, offset }),
    lines: async (jobId, attempt, from, to) => rangeLines.all({ job: jobId, attempt, from, to }),
    count: async (jobId) => countLines.get({ job: jobId })?.c ?? 0,
    async ended(jobId) {
      const a = lastAttempt.get({ job: jobId })?.a;
      return a != null && endOf.get({ job: jobId, attempt: a }) !== null;
    },
    searchJob: async (jobId, text, limit) => searchLines.all({ job: jobId, pattern: text, limit }),
    async search(r) {
      const params: (string | number)[] = [];
      let where = scope(r.org, r.since, r.until, params);
      const q = compileSqlite(r.query);
      where += ` and ${q.sql}`;
      params.push(...q.params);
      if (r.after) {
        where += " and (l.ts, l.job_id, l.attempt, l.n) < (?, ?, ?, ?)";
        params.push(r.after.ts, r.after.jobId, r.after.attempt, r.after.n);
      }
      params.push(r.limit);
      const sql = `select l.job_id as jobId, l.attempt, l.n, l.ts, l.stream, l.text, l.org, l.level, l.step, l.agent,
        coalesce(m.repo, '') as repo, coalesce(m.workflow, '') as workflow, coalesce(m.job_name, '') as job, coalesce(m.branch, '') as branch,
        ${STATUS_SQL} as status ${FROM} where ${where} order by l.ts desc, l.job_id desc, l.attempt desc, l.n desc limit ?`;
      return db.query<SearchHit, (string | number)[]>(sql).all(...params);
    },
    async histogram(r) {
      const params: (string | number)[] = [r.bucketMs, r.bucketMs];
      const scoped: (string | number)[] = [];
      let where = scope(r.org, r.since, r.until, scoped);
      const q = compileSqlite(r.query);
      where += ` and ${q.sql}`;
      params.push(...scoped, ...q.params);
      const sql = `select (l.ts / ?) * ? as t, l.level as level, count(*) as count ${FROM} where ${where} group by t, l.level order by t, l.level`;
      return db.query<HistogramBucket, (string | number)[]>(sql).all(...params);
    },
    prune,
    close: async () => {
      clearInterval(pruner);
      db.close();
    },
  };
}

/** A store written before a column existed gets it, empty. */
function addColumn(db: Database, table: string, column: string, decl: string): void {
  const cols = db.query<{ name: string }, []>(`pragma table_info(${table})`).all();
  if (!cols.some((c) => c.name === column)) db.run(`alter table ${table} add column ${column} ${decl}`);
}
