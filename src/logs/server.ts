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
import { openSqliteLogStore } from "./store.ts";
import { logMetrics } from "./metrics.ts";

/** How many jobs' organisations are remembered (a job's org never changes, so only the bound matters). */
const ORG_CACHE_SIZE = 10_000;

/**
 * The organisation of a job's record, read from the jobs bucket and remembered (bounded, oldest
 * first out). The control plane creates the bucket and may start after us: until it exists, no job
 * does. Any other NATS error is an error, not a "no". A job not found is not remembered: it may be
 * created a moment later.
 */
function jobOrgs(js: JetStreamClient): (id: string) => Promise<string | null> {
  let jobs: JobStore | undefined;
  const known = new Map<string, string>();
  return async (id) => {
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
    if (known.size >= ORG_CACHE_SIZE) known.delete(known.keys().next().value!);
    known.set(id, orgOf(rec.value));
    return orgOf(rec.value);
  };
}

export async function startLogService(config: ConfigOf<typeof logSettings>) {
  const log = createLogger("logs");
  const nc = await connectNats({ url: config.natsUrl, user: config.natsUser, password: config.natsPassword, token: config.natsToken, name: "nimbus-logs", inboxPrefix: SERVICE_INBOX.logs });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc, { replicas: config.natsReplicas }));
  const store = openSqliteLogStore(config.dbPath);
  const app = logApp({
    store,
    auth: { secret: config.authSecret, ledger },
    maxBodyBytes: config.maxBodyBytes,
    log,
    jobOrg: jobOrgs(jetstream(nc)),
    metrics: logMetrics(),
    bindHost: config.host,
  }).listen({ hostname: config.host, port: config.port });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("log service listening", { url });
  return {
    url,
    async stop() {
      await app.stop(true);
      store.close();
      ledger.stop();
      await nc.close();
    },
  };
}
