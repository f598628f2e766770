import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createLogger } from "../core/log.ts";
import { connectNats, natsAuthOf } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { API, isApiError } from "../nats/errors.ts";
import { ensureTokenLedger, JOBS_BUCKET } from "../nats/topology.ts";
import { LedgerView } from "../auth/ledger-store.ts";
import { JobStore } from "../jobs/store.ts";
import { orgOf } from "../jobs/org.ts";
import { logApp } from "./app.ts";
import { checkLogConfig, type LogConfig } from "./config.ts";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { openClickHouseLogStore } from "./backends/clickhouse.ts";
import { openSqliteLogStore } from "./backends/sqlite.ts";
import { NO_META, type JobMeta, type LogStore } from "./store.ts";
import { jobMetaOf } from "../jobs/job-meta.ts";
import { logMetrics } from "./metrics.ts";
import { LiveSearch } from "./live-search.ts";
import { startLiveFanout } from "./live-fanout.ts";

/** How many jobs' records are remembered (a job's org and fields never change, so only the bound matters). */
const RECORD_CACHE_SIZE = 10_000;

/**
 * A job's organisation and searchable fields, read from the jobs bucket and remembered (bounded,
 * oldest first out). The control plane creates the bucket and may start after us: until it exists,
 * no job does. Any other NATS error is an error, not a "no". A job not found is not remembered: it
 * may be created a moment later.
 */
function jobRecords(js: JetStreamClient): { org(id: string): Promise<string | null>; meta(id: string): Promise<JobMeta> } {
  let jobs: JobStore | undefined;
  const known = new Map<string, { org: string; meta: JobMeta }>();
  const lookup = async (id: string) => {
    const hit = known.get(id);
    if (hit !== undefined) return hit;
    jobs ??= new JobStore(await new Kvm(js).open(JOBS_BUCKET), js);
    let rec;
    try {
      rec = await jobs.get(id);
    } catch (e) {
      if (isApiError(e, API.streamNotFound)) return null;
      throw e;
    }
    if (!rec) return null;
    if (known.size >= RECORD_CACHE_SIZE) known.delete(known.keys().next().value!);
    const found = { org: orgOf(rec.value), meta: jobMetaOf(rec.value) };
    known.set(id, found);
    return found;
  };
  return {
    org: async (id) => (await lookup(id))?.org ?? null,
    // A record gone already (a job whose lines arrive late) leaves its fields empty; the lines are stored all the same.
    meta: async (id) => (await lookup(id).catch(() => null))?.meta ?? NO_META,
  };
}

/** The configured backend; `clickhouse` overrides how its client is made (tests give it chdb's engine). */
async function openStore(config: LogConfig, clickhouse?: () => ClickHouseClient): Promise<LogStore> {
  if (config.backend === "sqlite") return openSqliteLogStore(config.dbPath, { retentionDays: config.retentionDays });
  const client = clickhouse?.() ?? createClient({ url: config.clickhouseUrl, username: config.clickhouseUser, password: config.clickhousePassword, application: "nimbus-logs" });
  return openClickHouseLogStore(client, { database: config.clickhouseDatabase, retentionDays: config.retentionDays });
}

export async function startLogService(config: LogConfig, opts: { clickhouse?: () => ClickHouseClient } = {}) {
  checkLogConfig(config);
  const log = createLogger("logs");
  const nc = await connectNats({ url: config.natsUrl, ...natsAuthOf(config), name: "nimbus-logs", inboxPrefix: SERVICE_INBOX.logs });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const store = await openStore(config, opts.clickhouse);
  const records = jobRecords(jetstream(nc));
  const live = new LiveSearch();
  // Only a shared store has fellow replicas to hear from (SQLite is one service's own).
  const fanout = store.kind === "sqlite" ? null : startLiveFanout(nc, live, store, records.meta, log);
  const app = logApp({
    live,
    announce: fanout?.announce,
    store,
    auth: { secret: config.authSecret, ledger },
    maxBodyBytes: config.maxBodyBytes,
    log,
    jobOrg: records.org,
    jobMeta: records.meta,
    metrics: logMetrics(),
    bindHost: config.host,
  }).listen({ hostname: config.host, port: config.port });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("log service listening", { url, backend: store.kind });
  return {
    url,
    async stop() {
      await app.stop(true);
      fanout?.stop();
      await store.close();
      ledger.stop();
      await nc.close();
    },
  };
}
