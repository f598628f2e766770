import * as v from "valibot";
import { authSecret, host, listenPort, natsReplicas, natsToken, natsUrl, natsUser, natsPassword, natsJwt, natsSeed } from "../core/config/common.ts";
import { ConfigError } from "../core/config/load.ts";
import { int, oneOf, optionalStr, str, url, type ConfigOf, type SettingsSpec } from "../core/config/settings.ts";

export const logSettings = {
  host: host("NIMBUS_LOGS_HOST", "Address the log service listens on."),
  port: listenPort("NIMBUS_LOGS_PORT", "Port of the log service.", 7071),
  backend: {
    env: "NIMBUS_LOGS_BACKEND",
    doc: "Where lines are kept: `sqlite` (embedded, one log service per store) or `clickhouse` (a ClickHouse server; the log service keeps no state and runs as several replicas).",
    schema: oneOf(["sqlite", "clickhouse"] as const),
    default: "sqlite",
  },
  dbPath: { env: "NIMBUS_LOGS_DB", doc: "SQLite file the log service stores lines in (the sqlite backend).", schema: str(), default: ".nimbus/logs.sqlite" },
  clickhouseUrl: {
    env: "NIMBUS_LOGS_CLICKHOUSE_URL",
    doc: "HTTP(S) URL of the ClickHouse server (the clickhouse backend), e.g. http://clickhouse:8123.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  clickhouseUser: { env: "NIMBUS_LOGS_CLICKHOUSE_USER", doc: "ClickHouse user.", schema: optionalStr(), default: "default" },
  clickhousePassword: { env: "NIMBUS_LOGS_CLICKHOUSE_PASSWORD", doc: "Password of NIMBUS_LOGS_CLICKHOUSE_USER.", schema: optionalStr(), default: "", secret: true },
  clickhouseDatabase: {
    env: "NIMBUS_LOGS_CLICKHOUSE_DATABASE",
    doc: "Database the log tables are created in.",
    schema: v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "must be a database name (letters, digits, _)")) as v.GenericSchema<string, string>,
    default: "nimbus",
  },
  retentionDays: { env: "NIMBUS_LOGS_RETENTION_DAYS", doc: "Days lines are kept (ClickHouse: a TTL; SQLite: pruned hourly).", schema: int(1, 3650), default: "30" },
  authSecret,
  // The jobs bucket names the organisation of a job that has logged nothing yet (and tells a follow it
  // exists); the token ledger is watched.
  natsUrl,
  natsToken,
  natsReplicas,
  natsUser,
  natsPassword,
  natsJwt,
  natsSeed,
  maxBodyBytes: { env: "NIMBUS_LOGS_MAX_BODY_BYTES", doc: "Largest accepted log batch.", schema: int(1024, 64 * 1024 * 1024), default: "8388608" },
} satisfies SettingsSpec;

export type LogConfig = ConfigOf<typeof logSettings>;

/** Cross-field checks: the clickhouse backend needs its server's URL. */
export function checkLogConfig(c: LogConfig): void {
  if (c.backend === "clickhouse" && !c.clickhouseUrl)
    throw new ConfigError([{ key: "NIMBUS_LOGS_CLICKHOUSE_URL", problem: "is required when NIMBUS_LOGS_BACKEND is clickhouse" }]);
}
