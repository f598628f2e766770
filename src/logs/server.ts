import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger } from "../core/log.ts";
import { logApp } from "./app.ts";
import type { logSettings } from "./config.ts";
import { openSqliteLogStore } from "./store.ts";

export async function startLogService(config: ConfigOf<typeof logSettings>) {
  const log = createLogger("logs");
  const store = openSqliteLogStore(config.dbPath);
  const app = logApp({ store, auth: { secret: config.authSecret, adminSubjects: config.adminSubjects }, maxBodyBytes: config.maxBodyBytes, log }).listen({
    hostname: config.host,
    port: config.port,
  });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("log service listening", { url });
  return {
    url,
    async stop() {
      await app.stop(true);
      store.close();
    },
  };
}
