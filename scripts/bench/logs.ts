/**
 * Log benchmark: each backend against its own raw engine, in the same run.
 *
 *   bun run scripts/bench/logs.ts [--lines 10000000] [--ingest 1000000] [--backends sqlite,clickhouse] [--runs 15]
 *
 * For each backend: lines ingested through the log service over HTTP (agent token + log credential,
 * batches of 5,000 serialised before the clock starts, 8 in flight) against raw inserts of the same rows into the same engine and
 * schema; then the store is filled to --lines lines (raw inserts), and a job's last 1,000 lines
 * (tail) and a word plus a field filter (search) are timed through the service's HTTP API, next to
 * the same SQL run on the engine directly; and `nimbus logs search` (the CLI binary) end to end.
 * SQLite runs as the stack's own log service process; ClickHouse is chdb's in-process engine (the
 * tests' stand-in for a server, installed by `scripts/setup.sh --tests`) behind a log service in
 * this process, so its figures include this process's client work too.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ClickHouseClient } from "@clickhouse/client";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { mintLogCredential, LOG_CREDENTIAL_HEADER } from "../../src/auth/log-credential.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { logSettings } from "../../src/logs/config.ts";
import { startLogService } from "../../src/logs/server.ts";
import { levelOf } from "../../src/logs/line-facts.ts";
import { benchStack, percentile, printTable, freeBase } from "./lib.ts";

const { values } = parseArgs({ options: { lines: { type: "string", default: "10000000" }, ingest: { type: "string", default: "1000000" }, backends: { type: "string", default: "sqlite,clickhouse" }, runs: { type: "string", default: "15" } } });
const TOTAL = Number(values.lines);
const INGEST = Number(values.ingest);
const RUNS = Number(values.runs);
const BACKENDS = values.backends!.split(",");
const LINES_PER_JOB = 2000;
const BATCH = 5000;
const ORGS = ["bench-a", "bench-b", "bench-c", "bench-d"];
const T0 = Date.now() - 6 * 3600_000;
const WORDS = "compiling linking downloading resolving running installing packages module test suite passed cache restored artifact uploaded".split(" ");
const BIN = resolve(import.meta.dir, "../../bin/nimbus");

/** Line k of the whole data set: ~1 % mention timeout, ~2 % are errors, a few both. */
function lineText(k: number): string {
  const w = (i: number) => WORDS[(k * 7 + i * 13) % WORDS.length]!;
  if (k % 97 === 0) return `##[error]step failed after timeout ${k}`;
  if (k % 50 === 0) return `##[error]${w(1)} exited with code ${k % 7}`;
  if (k % 101 === 0) return `retrying after timeout (${k})`;
  return `${w(0)} ${w(1)} ${w(2)} ${k.toString(36)} in ${(k % 997) / 10}s`;
}
const jobOf = (k: number) => Math.floor(k / LINES_PER_JOB);
const jobId = (j: number) => `j-bench${String(j).padStart(8, "0")}`;
const orgOfJob = (j: number) => ORGS[j % ORGS.length]!;
const ts = (k: number) => T0 + Math.floor(k / 3);

const stack = await benchStack({ agents: 0 });
const nc = await connectNats({ url: stack.natsUrl, ...stack.natsAuth, name: "bench-logs" });
const ledger = new TokenLedger(await ensureTokenLedger(nc));
const agentToken = (await bootstrapToken({ secret: stack.authSecret, ledger }, { sub: "bench-agent", role: "agent", ttlSeconds: 86_400 })).token;
const reader = (await bootstrapToken({ secret: stack.authSecret, ledger }, { sub: "bench-reader", role: "member", org: ORGS[0], ttlSeconds: 86_400 })).token;
const credentials = new Map<number, string>();
const credential = async (j: number) => {
  let c = credentials.get(j);
  if (!c) credentials.set(j, (c = await mintLogCredential(stack.authSecret, { jobId: jobId(j), attempt: 1, agentId: "bench-agent", org: orgOfJob(j), ttlSeconds: 86_400 })));
  return c;
};

/** Lines [from, to) as batches of one job each. */
function* batches(from: number, to: number) {
  for (let k = from; k < to; ) {
    const j = jobOf(k);
    const end = Math.min(to, (j + 1) * LINES_PER_JOB, k + BATCH);
    const lines = [];
    for (let i = k; i < end; i++) lines.push({ n: i - j * LINES_PER_JOB, ts: ts(i), stream: "out" as const, text: lineText(i) });
    yield { j, batch: { jobId: jobId(j), attempt: 1, lines } };
    k = end;
  }
}

async function parallel<T>(items: Iterable<T>, width: number, fn: (x: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  await Promise.all(Array.from({ length: width }, async () => {
    for (let n = it.next(); !n.done; n = it.next()) await fn(n.value);
  }));
}

/** Batches are built and serialised before the clock starts: what is timed is the service taking them, not this process making them. */
async function ingestHttp(url: string, from: number, to: number): Promise<number> {
  const bodies: { credential: string; body: string }[] = [];
  for (const { j, batch } of batches(from, to)) bodies.push({ credential: await credential(j), body: JSON.stringify(batch) });
  const t = performance.now();
  await parallel(bodies, 8, async ({ credential, body }) => {
    const r = await fetch(`${url}/v1/logs`, { method: "POST", headers: { authorization: `Bearer ${agentToken}`, [LOG_CREDENTIAL_HEADER]: credential, "content-type": "application/json" }, body });
    if (!r.ok) throw new Error(`ingest: ${r.status} ${await r.text()}`);
  });
  return (to - from) / ((performance.now() - t) / 1000);
}

async function timed(n: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return percentile(ms, 50);
}

const since = T0 - 60_000;
const searchQ = "timeout level:error";
const tailJob = jobOf(TOTAL - 1) - 4; // an org-a job near the end (4 orgs round-robin)
async function httpFigures(url: string) {
  const tailUrl = `${url}/v1/jobs/${jobId(tailJob - (tailJob % ORGS.length))}/logs?offset=${LINES_PER_JOB - 1000}&limit=1000`;
  const searchUrl = `${url}/v1/logs/search?q=${encodeURIComponent(searchQ)}&since=${since}&limit=100`;
  const get = async (u: string) => {
    const r = await fetch(u, { headers: { authorization: `Bearer ${reader}` } });
    if (!r.ok) throw new Error(`${u}: ${r.status} ${await r.text()}`);
    const body = (await r.json()) as { lines: unknown[] };
    if (!body.lines.length) throw new Error(`${u}: no lines`);
  };
  return { tail: await timed(RUNS, () => get(tailUrl)), search: await timed(RUNS, () => get(searchUrl)) };
}

function cli(): number {
  const t = performance.now();
  const p = Bun.spawnSync([BIN, "logs", "search", searchQ, "--since", String(since), "--limit", "100"], { env: { ...process.env, NIMBUS_URL: stack.controlUrl, NIMBUS_TOKEN: reader }, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`nimbus logs search: ${p.stderr.toString()}`);
  return performance.now() - t;
}

const rows: Record<string, string | number>[] = [];
const row = (measure: string, nimbus: string | number, raw: string | number, ratio: string, target: string) => rows.push({ measure, nimbus, "raw engine": raw, ratio, target });

try {
  // ---- SQLite: the stack's own log service -------------------------------------------------------
  if (BACKENDS.includes("sqlite")) {
    const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-logs-"));
    const rawDb = new Database(join(dir, "raw.sqlite"), { create: true, strict: true });
    const { openSqliteLogStore } = await import("../../src/logs/backends/sqlite.ts");
    await openSqliteLogStore(join(dir, "raw.sqlite")).close(); // the same schema
    // The engine's fastest plain way: prepared multi-row inserts (100 rows a statement) in one transaction per batch.
    const insert = (db: Database) => {
      const R = 100;
      const sql = (r: number) => `insert or ignore into lines (job_id, attempt, n, ts, stream, text, org, level, step, agent) values ${Array(r).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;
      const many = db.prepare(sql(R));
      return db.transaction((b: { jobId: string; lines: { n: number; ts: number; stream: string; text: string }[] }, org: string) => {
        for (let i = 0; i < b.lines.length; i += R) {
          const chunk = b.lines.slice(i, i + R);
          const p = chunk.flatMap((l) => [b.jobId, 1, l.n, l.ts, l.stream, l.text, org, levelOf(l.text, l.stream), "", "bench-agent"]);
          (chunk.length === R ? many : db.prepare(sql(chunk.length))).run(...p);
        }
      });
    };
    const rawInsert = insert(rawDb);
    let t = performance.now();
    for (const { j, batch } of batches(0, INGEST)) rawInsert(batch, orgOfJob(j));
    const raw = INGEST / ((performance.now() - t) / 1000);
    rawDb.close();
    const service = await ingestHttp(stack.logsUrl, 0, INGEST);
    row("sqlite: ingest through the log service (lines/s)", service.toFixed(0), raw.toFixed(0), (service / raw).toFixed(2), "≥ 300,000 and ≥ 0.50");
    // Fill to TOTAL lines beside the running service (it is idle; WAL lets this writer in).
    const db = new Database(join(stack.dataDir, "logs.sqlite"), { strict: true });
    db.run("pragma busy_timeout = 10000");
    const fill = insert(db);
    t = performance.now();
    for (const { j, batch } of batches(INGEST, TOTAL)) fill(batch, orgOfJob(j));
    console.error(`sqlite: filled to ${TOTAL} lines in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const job = jobId(tailJob - (tailJob % ORGS.length));
    const rawTail = await timed(RUNS, async () => db.query("select attempt, n, ts, stream, text from lines where job_id = ? order by attempt, n limit 1000 offset ?").all(job, LINES_PER_JOB - 1000));
    const rawSearch = await timed(RUNS, async () =>
      db.query("select * from lines where org = ? and ts >= ? and ts < ? and level = 'error' and text like '%timeout%' order by ts desc, job_id desc, attempt desc, n desc limit 100").all(ORGS[0]!, since, Date.now() + 60_000));
    db.close();
    const http = await httpFigures(stack.logsUrl);
    row(`sqlite: tail, last 1,000 lines of one job among ${TOTAL.toLocaleString("en")} (ms)`, http.tail.toFixed(1), rawTail.toFixed(1), (http.tail / rawTail).toFixed(2), "≤ 20 ms");
    row(`sqlite: search "${searchQ}" over ${TOTAL.toLocaleString("en")} (ms)`, http.search.toFixed(1), rawSearch.toFixed(1), (http.search / rawSearch).toFixed(2), "≤ 300 ms");
    row("sqlite: `nimbus logs search` end to end (ms)", cli().toFixed(0), "–", "–", "report");
    rmSync(dir, { recursive: true, force: true });
  }

  // ---- ClickHouse: chdb's engine behind a log service in this process -----------------------------
  if (BACKENDS.includes("clickhouse")) {
    const { chdbClient } = await import("../../test/support/chdb.ts");
    const { openClickHouseLogStore } = await import("../../src/logs/backends/clickhouse.ts");
    const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-chdb-"));
    let client: ClickHouseClient | undefined;
    const shared = () => (client ??= chdbClient(join(dir, "chdb")));
    const svc = await startLogService(
      loadConfig(logSettings, {
        NIMBUS_NATS_URL: stack.natsUrl, NIMBUS_NATS_USER: stack.natsAuth.user, NIMBUS_NATS_PASSWORD: stack.natsAuth.password, NIMBUS_AUTH_SECRET: stack.authSecret,
        NIMBUS_LOGS_PORT: String((await freeBase()) + 7), NIMBUS_LOGS_BACKEND: "clickhouse", NIMBUS_LOGS_CLICKHOUSE_URL: "http://127.0.0.1:9", NIMBUS_LOGS_CLICKHOUSE_DATABASE: "bench",
      }),
      { clickhouse: shared },
    );
    await openClickHouseLogStore(shared(), { database: "bench_raw", retentionDays: 3650 }); // the same schema, for the raw inserts
    const c = shared();
    const chRows = (from: number, to: number, org?: string) =>
      [...batches(from, to)].map(({ j, batch }) => batch.lines.map((l) => ({ org: org ?? orgOfJob(j), repo: "", workflow: "", job_name: "", step: "", branch: "", job_id: batch.jobId, attempt: 1, n: l.n, ts: l.ts, stream: l.stream, level: levelOf(l.text, l.stream), agent: "bench-agent", message: l.text })));
    let t = performance.now();
    await parallel(chRows(0, INGEST), 4, async (values) => void (await c.insert({ table: "bench_raw.log_lines", values, format: "JSONEachRow", clickhouse_settings: { insert_deduplication_token: `bench-raw-${values[0]!.job_id}-${values[0]!.n}` } })));
    const raw = INGEST / ((performance.now() - t) / 1000);
    const service = await ingestHttp(svc.url, 0, INGEST);
    row("clickhouse: ingest through the log service (lines/s)", service.toFixed(0), raw.toFixed(0), (service / raw).toFixed(2), "≥ 300,000 and ≥ 0.50");
    t = performance.now();
    // A fresh deduplication token per insert: chdb keeps a query's settings for its session, so an insert
    // without one would carry the service's last token and be dropped as a repeat.
    let seq = 0;
    const once = () => ({ insert_deduplication_token: `bench-fill-${seq++}` });
    for (let k = INGEST; k < TOTAL; k += 500_000)
      await parallel(chRows(k, Math.min(TOTAL, k + 500_000)), 2, async (values) => void (await c.insert({ table: "bench.log_lines", values, format: "JSONEachRow", clickhouse_settings: once() })));
    await c.command({ query: "OPTIMIZE TABLE bench.log_lines" }).catch(() => {});
    console.error(`clickhouse: filled to ${TOTAL} lines in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const job = jobId(tailJob - (tailJob % ORGS.length));
    const q = async (query: string, query_params: Record<string, unknown>) => (await c.query({ query, query_params, format: "JSONEachRow" })).json();
    const rawTail = await timed(RUNS, () => q("SELECT attempt, n, ts, stream, message FROM bench.log_lines WHERE job_id = {j:String} ORDER BY attempt, n LIMIT 1000 OFFSET {o:UInt32}", { j: job, o: LINES_PER_JOB - 1000 }));
    const rawSearch = await timed(RUNS, () =>
      q("SELECT * FROM bench.log_lines WHERE org = {org:String} AND ts >= {s:Int64} AND level = 'error' AND message ILIKE '%timeout%' ORDER BY ts DESC, job_id DESC, attempt DESC, n DESC LIMIT 100", { org: ORGS[0], s: since }));
    const http = await httpFigures(svc.url);
    row(`clickhouse: tail, last 1,000 lines of one job among ${TOTAL.toLocaleString("en")} (ms)`, http.tail.toFixed(1), rawTail.toFixed(1), (http.tail / rawTail).toFixed(2), "≤ 20 ms");
    row(`clickhouse: search "${searchQ}" over ${TOTAL.toLocaleString("en")} (ms)`, http.search.toFixed(1), rawSearch.toFixed(1), (http.search / rawSearch).toFixed(2), "≤ 300 ms");
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  printTable(`Logs: ${TOTAL.toLocaleString("en")} lines of ${ORGS.length} orgs, ${INGEST.toLocaleString("en")} ingested over HTTP, ${navigator.hardwareConcurrency} CPUs; medians of ${RUNS} runs`, rows);
} finally {
  await nc.close();
  await stack.cleanup();
}
