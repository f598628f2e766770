/** The control plane's configuration: declared once, validated at start. */
import { authSecret, host, leaseTtlMs, listenPort, logsUrl, natsReplicas, natsToken, natsUrl, natsUser, natsPassword, natsJwt, natsSeed } from "../core/config/common.ts";
import * as v from "valibot";
import { int, oneOf, optionalStr, str, url, type SettingsSpec } from "../core/config/settings.ts";
import { isSecretsKey } from "../auth/seal.ts";
import { isAccountSeed } from "../nats/decentralized.ts";
import { githubSettings } from "../github/config.ts";
import { giteaSettings } from "../gitea/config.ts";
import { orgLimitSettings } from "../jobs/limits/config.ts";
import { otelSettings } from "../core/trace/settings.ts";

export const controlSettings = {
  host: host("NIMBUS_CONTROL_HOST", "Address the control plane listens on."),
  port: listenPort("NIMBUS_CONTROL_PORT", "Port of the control plane API.", 7070),
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsJwt,
  natsSeed,
  natsReplicas,
  authSecret,
  secretsKey: {
    env: "NIMBUS_SECRETS_KEY",
    doc: "Key (32 random bytes, base64url: `openssl rand 32 | basenc --base64url | tr -d =`) that encrypts job secrets and cache tokens at rest; only the control plane holds it. `nimbus up` generates one.",
    schema: v.pipe(v.string(), v.check(isSecretsKey, "must be 32 random bytes, base64url-encoded without padding (43 characters)")) as v.GenericSchema<string, string>,
    secret: true,
  },
  leaseTtlMs,
  natsAccountSeed: {
    env: "NIMBUS_NATS_ACCOUNT_SEED",
    doc: "Seed (`SA…`) of the NATS account whose users agents are, on a nats-server in operator mode (decentralized auth): with it, an agent token's holder gets a short-lived NATS user JWT from POST /api/agents/nats-credentials. Empty: that endpoint answers 503.",
    schema: v.union([v.literal(""), v.pipe(v.string(), v.check(isAccountSeed, "must be a NATS account seed (SA…)"))]) as v.GenericSchema<string, string>,
    default: "",
    secret: true,
  },
  natsUserTtlMs: { env: "NIMBUS_NATS_USER_TTL_MS", doc: "Life of an agent's NATS user JWT (it renews before then with its agent token; a revoked token is cut off within this).", schema: int(10_000, 86_400_000), default: "600000" },
  logsUrl,
  registryUrl: {
    env: "NIMBUS_REGISTRY_URL",
    doc: "Base URL of the registry, whose usage and repositories /api/registry/... relays (the dashboard's overview) and /api/info names. Empty: none (those routes answer 503). `nimbus up` sets it.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  enrollNatsUrl: { env: "NIMBUS_ENROLL_NATS_URL", doc: "NATS URL(s) an agent that enrolls (`nimbus agent join`) is told to use, comma-separated for a cluster; as reachable from its host. Empty: NIMBUS_NATS_URL.", schema: optionalStr(), default: "" },
  enrollLogsUrl: { env: "NIMBUS_ENROLL_LOGS_URL", doc: "Log service URL an enrolling agent is told to use. Empty: NIMBUS_LOGS_URL.", schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>, default: "" },
  enrollCacheUrl: { env: "NIMBUS_ENROLL_CACHE_URL", doc: "Cache service URL an enrolling agent is told to use (its host's cache, for a fleet). Empty: none (its jobs get no cache). `nimbus up` sets it.", schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>, default: "" },
  enrollRegistryUrl: { env: "NIMBUS_ENROLL_REGISTRY_URL", doc: "Registry URL an enrolling agent is told to use. Empty: NIMBUS_REGISTRY_URL.", schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>, default: "" },
  maxAttempts: { env: "NIMBUS_MAX_ATTEMPTS", doc: "Attempts a job gets (lost leases count) before it is failed.", schema: int(1, 100), default: "3" },
  sweepIntervalMs: { env: "NIMBUS_SWEEP_INTERVAL_MS", doc: "How often the lease sweeper runs.", schema: int(100, 600_000), default: "1000" },
  maxBodyBytes: { env: "NIMBUS_MAX_BODY_BYTES", doc: "Largest accepted API request body.", schema: int(1024, 64 * 1024 * 1024), default: "1048576" },
  baseLabel: { env: "NIMBUS_BASE_LABEL", doc: "The label that marks a job as Nimbus's.", schema: str(), default: "nimbus" },
  defaultIsolation: {
    env: "NIMBUS_DEFAULT_ISOLATION",
    doc: "Isolation of jobs whose labels do not ask for one.",
    schema: oneOf(["sandbox", "vm"] as const),
    default: "sandbox",
  },
  ...orgLimitSettings,
  ...githubSettings,
  ...giteaSettings,
  ...otelSettings,
} satisfies SettingsSpec;
