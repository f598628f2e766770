/**
 * The ClickHouse log backend, through `@clickhouse/client` (HTTP to a server in production; the
 * tests give the client chdb's in-process engine through its connection adapter). With it the log
 * service keeps no state of its own and runs as several replicas.
 *
 * `log_lines`: one row per line with its job's fields, ordered by (job_id, attempt, n) for a job's
 * tail, partitioned by day (an org's time range reads only its days), a set index on org, an n-gram
 * bloom filter on the message for text search, and a TTL of the retention. `log_ends`: an
 * attempt's end. Ingest is idempotent: lines already stored for the attempt are not inserted again
 * (one read per batch), and a batch resent at once carries the same insert deduplication token;
 * two replicas racing on one batch may store a line twice until the ReplacingMergeTree merges.
 * Every query parameter is bound (query/clickhouse.ts), and 64-bit integers come back as numbers
 * (`output_format_json_quote_64bit_integers` is set, servers and engines differ on its default).
 */
import { createHash } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import { levelOf, stepStarted } from "../line-facts.ts";
import { compileClickHouse, STATUS_CH } from "../query/clickhouse.ts";
import type { HistogramBucket, LogStore, SearchHit, StoredLine } from "../store.ts";

export interface ClickHouseLogOptions {
  database: string;
  retentionDays: number;
}

const SETTINGS = { output_format_json_quote_64bit_integers: 0 } as const;
const STEPS_KEPT = 10_000;

export async function openClickHouseLogStore(client: ClickHouseClient, o: ClickHouseLogOptions): Promise<LogStore> {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(o.database)) throw new Error(`not a database name: ${o.database}`);
  const db = o.database;
  const days = Math.max(1, Math.floor(o.retentionDays));
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.log_lines (
      org LowCardinality(String), repo LowCardinality(String), workflow LowCardinality(String), job_name LowCardinality(String),
      step LowCardinality(String), branch LowCardinality(String), job_id String, attempt UInt32, n UInt32, ts Int64,
      stream LowCardinality(String), level LowCardinality(String), agent LowCardinality(String), message String,
      INDEX org_set org TYPE set(256) GRANULARITY 4,
      INDEX message_ngrams lower(message) TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000)))
    ORDER BY (job_id, attempt, n)
    TTL toDateTime(intDiv(ts, 1000)) + INTERVAL ${days} DAY
    SETTINGS non_replicated_deduplication_window = 1000`,
  });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.log_ends (
      org LowCardinality(String), job_id String, attempt UInt32, lines UInt32, exit_code Nullable(Int32), has_end UInt8 DEFAULT 1, at Int64
    ) ENGINE = ReplacingMergeTree ORDER BY (job_id, attempt)
    TTL toDateTime(intDiv(at, 1000)) + INTERVAL ${days} DAY`,
  });

  const rows = async <T>(query: string, query_params: Record<string, unknown> = {}): Promise<T[]> =>
    (await client.query({ query, query_params, format: "JSONEachRow", clickhouse_settings: SETTINGS })).json<T>();

  const steps = new Map<string, string>();
  const stepOf = async (job: string, attempt: number): Promise<string> => {
    const k = `${job}\0${attempt}`;
    const s = steps.get(k);
    if (s !== undefined) return s;
    const [last] = await rows<{ step: string }>(`SELECT step FROM ${db}.log_lines WHERE job_id = {j:String} AND attempt = {a:UInt32} ORDER BY n DESC LIMIT 1`, { j: job, a: attempt });
    return last?.step ?? "";
  };

  const FROM = `${db}.log_lines AS l LEFT JOIN (SELECT job_id, attempt, any(exit_code) AS exit_code, max(has_end) AS has_end FROM ${db}.log_ends GROUP BY job_id, attempt) AS e ON e.job_id = l.job_id AND e.attempt = l.attempt`;
  const scope = (org: string | null, since: number, until: number, params: Record<string, unknown>) => {
    Object.assign(params, { since, until });
    if (org === null) return "l.ts >= {since:Int64} AND l.ts < {until:Int64}";
    params.org = org;
    return "l.org = {org:String} AND l.ts >= {since:Int64} AND l.ts < {until:Int64}";
  };

  return {
    kind: "clickhouse",
    async ingest(batch, ctx) {
      const { org, agent, meta } = ctx;
      const ns = batch.lines.map((l) => l.n);
      const have = new Set(
        ns.length
          ? (await rows<{ n: number }>(`SELECT DISTINCT n FROM ${db}.log_lines WHERE job_id = {j:String} AND attempt = {a:UInt32} AND n IN {ns:Array(UInt32)}`, { j: batch.jobId, a: batch.attempt, ns })).map((r) => r.n)
          : [],
      );
      let step = await stepOf(batch.jobId, batch.attempt);
      const values = [];
      for (const l of batch.lines) {
        step = stepStarted(l.text) ?? step;
        if (have.has(l.n)) continue;
        values.push({ org, repo: meta.repo, workflow: meta.workflow, job_name: meta.jobName, step, branch: meta.branch, job_id: batch.jobId, attempt: batch.attempt, n: l.n, ts: l.ts, stream: l.stream, level: levelOf(l.text, l.stream), agent, message: l.text });
      }
      steps.delete(`${batch.jobId}\0${batch.attempt}`);
      if (steps.size >= STEPS_KEPT) steps.delete(steps.keys().next().value!);
      steps.set(`${batch.jobId}\0${batch.attempt}`, step);
      if (values.length) {
        const token = createHash("sha256").update(`${batch.jobId}\0${batch.attempt}\0${values.map((v) => v.n).join(",")}`).digest("hex");
        await client.insert({ table: `${db}.log_lines`, values, format: "JSONEachRow", clickhouse_settings: { insert_deduplication_token: token } });
      }
      // Each insert names its own deduplication token: a session-scoped engine (chdb) would otherwise carry the last one over.
      if (batch.end)
        await client.insert({
          table: `${db}.log_ends`,
          values: [{ org, job_id: batch.jobId, attempt: batch.attempt, lines: batch.end.lines, exit_code: batch.end.exitCode ?? null, has_end: 1, at: Date.now() }],
          format: "JSONEachRow",
          clickhouse_settings: { insert_deduplication_token: `end\0${batch.jobId}\0${batch.attempt}` },
        });
      return { inserted: values.length };
    },
    async orgOf(jobId) {
      const [r] = await rows<{ org: string }>(
        `SELECT org FROM (SELECT org FROM ${db}.log_lines WHERE job_id = {j:String} LIMIT 1 UNION ALL SELECT org FROM ${db}.log_ends WHERE job_id = {j:String} LIMIT 1) LIMIT 1`,
        { j: jobId },
      );
      return r?.org ?? null;
    },
    read: (jobId, offset, limit) =>
      rows<StoredLine>(`SELECT attempt, n, ts, stream, message AS text FROM ${db}.log_lines WHERE job_id = {j:String} ORDER BY attempt, n LIMIT 1 BY attempt, n LIMIT {limit:UInt32} OFFSET {offset:UInt64}`, { j: jobId, limit, offset }),
    lines: (jobId, attempt, from, to) =>
      rows<StoredLine>(
        `SELECT attempt, n, ts, stream, message AS text FROM ${db}.log_lines WHERE job_id = {j:String} AND attempt = {a:UInt32} AND n BETWEEN {from:UInt32} AND {to:UInt32} ORDER BY n LIMIT 1 BY n`,
        { j: jobId, a: attempt, from, to },
      ),
    async count(jobId) {
      const [r] = await rows<{ c: number }>(`SELECT uniqExact(attempt, n) AS c FROM ${db}.log_lines WHERE job_id = {j:String}`, { j: jobId });
      return Number(r?.c ?? 0);
    },
    async ended(jobId) {
      const [r] = await rows<{ last: number; ended: number }>(
        `SELECT max(attempt) AS last, maxIf(attempt, has_end = 1) AS ended FROM (SELECT attempt, 0 AS has_end FROM ${db}.log_lines WHERE job_id = {j:String} UNION ALL SELECT attempt, has_end FROM ${db}.log_ends WHERE job_id = {j:String})`,
        { j: jobId },
      );
      return !!r && Number(r.last) > 0 && Number(r.ended) === Number(r.last);
    },
    searchJob: (jobId, text, limit) =>
      rows<StoredLine>(
        `SELECT attempt, n, ts, stream, message AS text FROM ${db}.log_lines WHERE job_id = {j:String} AND positionCaseInsensitiveUTF8(message, {t:String}) > 0 ORDER BY attempt, n LIMIT 1 BY attempt, n LIMIT {limit:UInt32}`,
        { j: jobId, t: text, limit },
      ),
    async search(r) {
      const params: Record<string, unknown> = {};
      let where = scope(r.org, r.since, r.until, params);
      const q = compileClickHouse(r.query);
      Object.assign(params, q.params);
      where += ` AND ${q.sql}`;
      if (r.after) {
        where += " AND (l.ts, l.job_id, l.attempt, l.n) < ({ats:Int64}, {ajob:String}, {aatt:UInt32}, {an:UInt32})";
        Object.assign(params, { ats: r.after.ts, ajob: r.after.jobId, aatt: r.after.attempt, an: r.after.n });
      }
      params.limit = r.limit;
      return rows<SearchHit>(
        `SELECT l.job_id AS jobId, l.attempt AS attempt, l.n AS n, l.ts AS ts, l.stream AS stream, l.message AS text, l.org AS org, l.level AS level,
          l.step AS step, l.agent AS agent, l.repo AS repo, l.workflow AS workflow, l.job_name AS job, l.branch AS branch, ${STATUS_CH} AS status
        FROM ${FROM} WHERE ${where} ORDER BY l.ts DESC, l.job_id DESC, l.attempt DESC, l.n DESC LIMIT 1 BY l.job_id, l.attempt, l.n LIMIT {limit:UInt32}`,
        params,
      );
    },
    async histogram(r) {
      const params: Record<string, unknown> = { b: r.bucketMs };
      let where = scope(r.org, r.since, r.until, params);
      const q = compileClickHouse(r.query);
      Object.assign(params, q.params);
      where += ` AND ${q.sql}`;
      const out = await rows<HistogramBucket>(
        `SELECT intDiv(l.ts, {b:Int64}) * {b:Int64} AS t, l.level AS level, count() AS count FROM ${FROM} WHERE ${where} GROUP BY t, level ORDER BY t, level`,
        params,
      );
      return out.map((b) => ({ t: Number(b.t), level: b.level, count: Number(b.count) }));
    },
    close: () => client.close(),
  };
}
