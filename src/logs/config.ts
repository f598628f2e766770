import { authSecret, host, listenPort, natsReplicas, natsToken, natsUrl, natsUser, natsPassword } from "../core/config/common.ts";
import { int, str, type SettingsSpec } from "../core/config/settings.ts";

export const logSettings = {
  host: host("NIMBUS_LOGS_HOST", "Address the log service listens on."),
  port: listenPort("NIMBUS_LOGS_PORT", "Port of the log service.", 7071),
  dbPath: { env: "NIMBUS_LOGS_DB", doc: "SQLite file the log service stores lines in.", schema: str(), default: ".nimbus/logs.sqlite" },
  authSecret,
  // The jobs bucket names the organisation of a job that has logged nothing yet (and tells a follow it
  // exists); the token ledger is watched.
  natsUrl,
  natsToken,
  natsReplicas,
  natsUser,
  natsPassword,
  maxBodyBytes: { env: "NIMBUS_LOGS_MAX_BODY_BYTES", doc: "Largest accepted log batch.", schema: int(1024, 64 * 1024 * 1024), default: "8388608" },
} satisfies SettingsSpec;
