/** Settings shared by several processes, declared once. */
import { bool, int, list, optionalStr, secret, str, url, type Setting } from "./settings.ts";

export const natsUrl: Setting<string> = {
  env: "NIMBUS_NATS_URL",
  doc: "NATS server URL(s), comma-separated for a cluster.",
  schema: str(),
  default: "nats://127.0.0.1:4222",
};

export const natsToken: Setting<string> = {
  env: "NIMBUS_NATS_TOKEN",
  doc: "Shared token for NATS client authentication, for a nats-server with `authorization { token }` (empty: none). NIMBUS_NATS_USER wins when both are set.",
  schema: optionalStr(),
  default: "",
  secret: true,
};

export const natsUser: Setting<string> = {
  env: "NIMBUS_NATS_USER",
  doc: "NATS user of this process (its permissions are in the server's `authorization { users }`; `nimbus up` makes one per process and per agent). Empty: NIMBUS_NATS_TOKEN, or none.",
  schema: optionalStr(),
  default: "",
};

export const natsPassword: Setting<string> = {
  env: "NIMBUS_NATS_PASSWORD",
  doc: "Password of NIMBUS_NATS_USER.",
  schema: optionalStr(),
  default: "",
  secret: true,
};

export const natsJwt: Setting<string> = {
  env: "NIMBUS_NATS_JWT",
  doc: "NATS user JWT of this process, for a nats-server in operator mode (decentralized auth); with NIMBUS_NATS_SEED it wins over NIMBUS_NATS_USER and NIMBUS_NATS_TOKEN. `nimbus up --nats-auth jwt` mints one per service.",
  schema: optionalStr(),
  default: "",
};

export const natsSeed: Setting<string> = {
  env: "NIMBUS_NATS_SEED",
  doc: "The nkey seed (`SU…`) of NIMBUS_NATS_JWT's user.",
  schema: optionalStr(),
  default: "",
  secret: true,
};

export const natsReplicas: Setting<number> = {
  env: "NIMBUS_NATS_REPLICAS",
  doc: "Replicas of each Nimbus stream and bucket (1 for one node; 3 or 5 on a cluster). The control plane creates them: give every replica the same value.",
  schema: int(1, 5),
  default: "1",
};

export const authSecret: Setting<string> = {
  env: "NIMBUS_AUTH_SECRET",
  doc: "HMAC key (32+ characters) that signs and verifies Nimbus tokens (operators, org roles, agents).",
  schema: secret(32),
  secret: true,
};

export const leaseTtlMs: Setting<number> = {
  env: "NIMBUS_LEASE_TTL_MS",
  doc: "A job lease not renewed for this long is expired and the job re-queued.",
  schema: int(1000, 3_600_000),
  default: "15000",
};

export const logsUrl: Setting<string> = {
  env: "NIMBUS_LOGS_URL",
  doc: "Base URL of the log service.",
  schema: url(["http", "https"]),
  default: "http://127.0.0.1:7071",
};

export const host = (env: string, doc: string): Setting<string> => ({ env, doc, schema: str(), default: "127.0.0.1" });
export const listenPort = (env: string, doc: string, dflt: number): Setting<number> => ({
  env,
  doc,
  schema: int(0, 65535),
  default: String(dflt),
});

export const metricsEnabled: Setting<boolean> = {
  env: "NIMBUS_METRICS",
  doc: "Serve Prometheus metrics at /metrics.",
  schema: bool(),
  default: "true",
};
