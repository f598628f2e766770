import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger } from "../core/log.ts";
import { connectNats } from "../nats/connect.ts";
import { SERVICE_INBOX } from "../nats/permissions.ts";
import { API, isApiError } from "../nats/errors.ts";
import { JOBS_BUCKET } from "../nats/topology.ts";
import { JobStore } from "../jobs/store.ts";
import { logApp } from "./app.ts";
import type { logSettings } from "./config.ts";
import { openSqliteLogStore } from "./store.ts";

/**
 * Whether a job record exists, read from the jobs bucket. The control plane creates the bucket and
 * may start after us: until it exists, no job does. Any other NATS error is an error, not a "no".
 */
function jobRecords(js: JetStreamClient): (id: string) => Promise<boolean> {
  let jobs: JobStore | undefined;
  return async (id) => {
    jobs ??= new JobStore(await new Kvm(js).open(JOBS_BUCKET), js);
    try {
      return (await jobs.get(id)) !== null;
    } catch (e) {
      if (isApiError(e, API.streamNotFound)) return false;
      throw e;
    }
  };
}

export async function startLogService(config: ConfigOf<typeof logSettings>) {
  const log = createLogger("logs");
  const nc = await connectNats({ url: config.natsUrl, user: config.natsUser, password: config.natsPassword, token: config.natsToken, name: "nimbus-logs", inboxPrefix: SERVICE_INBOX.logs });
  const store = openSqliteLogStore(config.dbPath);
  const app = logApp({
    store,
    auth: { secret: config.authSecret },
    maxBodyBytes: config.maxBodyBytes,
    log,
    jobExists: jobRecords(jetstream(nc)),
  }).listen({ hostname: config.host, port: config.port });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("log service listening", { url });
  return {
    url,
    async stop() {
      await app.stop(true);
      store.close();
      await nc.close();
    },
  };
}
