import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger } from "../core/log.ts";
import { connectNats } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { API, isApiError } from "../nats/errors.ts";
import { ensureTokenLedger, JOBS_BUCKET } from "../nats/topology.ts";
import { LedgerView } from "../auth/ledger-store.ts";
import { JobStore } from "../jobs/store.ts";
import { orgOf } from "../jobs/org.ts";
import { logApp } from "./app.ts";
import type { logSettings } from "./config.ts";
import { openSqliteLogStore } from "./backends/sqlite.ts";
import { NO_META, type JobMeta } from "./store.ts";
import { jobMetaOf } from "./job-meta.ts";
import { logMetrics } from "./metrics.ts";

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

export async function startLogService(config: ConfigOf<typeof logSettings>) {
  const log = createLogger("logs");
  const nc = await connectNats({ url: config.natsUrl, user: config.natsUser, password: config.natsPassword, token: config.natsToken, name: "nimbus-logs", inboxPrefix: SERVICE_INBOX.logs });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const store = openSqliteLogStore(config.dbPath);
  const records = jobRecords(jetstream(nc));
  const app = logApp({
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
  log.info("log service listening", { url });
  return {
    url,
    async stop() {
      await app.stop(true);
      await store.close();
      ledger.stop();
      await nc.close();
    },
  };
}
