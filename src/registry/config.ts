/**
 * Settings of the registry service process, declared once (see src/core/config/settings.ts): the
 * distribution API's own (listen address, storage, limits) and its authentication settings
 * (`registryAuthSettings`, read by src/registry/auth/ through `registryAuthDeps`).
 */
import * as v from "valibot";
import { authSecret, host, listenPort, metricsEnabled, natsReplicas, natsToken, natsUrl, natsUser, natsPassword } from "../core/config/common.ts";
import { bool, int, list, optionalStr, str, url, type SettingsSpec } from "../core/config/settings.ts";
import { orgLimitSettings } from "../jobs/limits/config.ts";
import { isOrgId } from "../auth/principal.ts";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export const registryAuthSettings = {
  externalUrl: {
    env: "NIMBUS_REGISTRY_EXTERNAL_URL",
    doc: "The registry's origin as clients reach it (e.g. http://10.0.0.1:7075): the 401 challenge names <this>/v2/token as the token realm. Empty: the origin each request came in on.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  publicOrgs: {
    env: "NIMBUS_REGISTRY_PUBLIC_ORGS",
    doc: "Organisations (comma-separated) whose repositories anyone may pull without a token. Empty: none; every pull needs a token.",
    schema: v.pipe(
      list(),
      v.check((l) => l.every(isOrgId), "must be a comma-separated list of organisation ids (lower-case letters, digits and dashes)"),
    ) as v.GenericSchema<string, string[]>,
    default: "",
  },
  tokenTtlSeconds: {
    env: "NIMBUS_REGISTRY_TOKEN_TTL_SECONDS",
    doc: "Lifetime of the registry tokens the token endpoint issues (they never outlive the credential they were bought with).",
    schema: int(30, 3600),
    default: "300",
  },
} satisfies SettingsSpec;

/** The pull-through mirror (src/registry/mirror/): upstreams, their credentials, tag TTL, access. */
export const registryMirrorSettings = {
  upstreams: {
    env: "NIMBUS_REGISTRY_UPSTREAMS",
    doc: "Upstream registries of the pull-through mirror, NAME=URL comma-separated (e.g. dockerhub=https://registry-1.docker.io,ghcr=https://ghcr.io); served read-only as mirror/NAME/<repository>. Empty: no mirror.",
    schema: optionalStr(),
    default: "",
  },
  upstreamCredentialsFile: {
    env: "NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE",
    doc: "JSON file of upstream credentials, {\"NAME\":{\"username\":\"…\",\"password\":\"…\"}}, read once at start; its values never appear in logs, errors or metrics. Empty: every upstream is pulled anonymously.",
    schema: optionalStr(),
    default: "",
  },
  mirrorDefault: {
    env: "NIMBUS_REGISTRY_MIRROR_DEFAULT",
    doc: "Upstream that answers as a Docker registry-mirrors endpoint: library/<name> (Docker Hub's official images, as a daemon asks its mirror) is served from mirror/<this>/library/<name>. Empty: none.",
    schema: optionalStr(),
    default: "",
  },
  mirrorAnonymous: {
    env: "NIMBUS_REGISTRY_MIRROR_ANONYMOUS",
    doc: "Let anyone pull mirrored content without a token (Docker daemons' registry-mirrors pulls come without credentials). Off: any valid token may pull it.",
    schema: bool(),
    default: "false",
  },
  mirrorTagTtlSeconds: {
    env: "NIMBUS_REGISTRY_MIRROR_TAG_TTL_SECONDS",
    doc: "A mirrored tag is served from the cache this long after it was fetched, then revalidated with the upstream (HEAD); a manifest by digest never is.",
    schema: int(0, 30 * 24 * 3600),
    default: "300",
  },
  mirrorTimeoutSeconds: {
    env: "NIMBUS_REGISTRY_MIRROR_TIMEOUT_SECONDS",
    doc: "An upstream that has not answered, or sent no bytes of a body, for this long is treated as down.",
    schema: int(1, 600),
    default: "30",
  },
} satisfies SettingsSpec;

export const registrySettings = {
  host: host("NIMBUS_REGISTRY_HOST", "Address the registry (OCI distribution API) listens on."),
  port: listenPort("NIMBUS_REGISTRY_PORT", "Port of the registry.", 7075),
  dir: {
    env: "NIMBUS_REGISTRY_DIR",
    doc: "Data directory of the registry: blobs (stored once by sha256), repository metadata, uploads in progress.",
    schema: str(),
    default: ".nimbus/registry",
  },
  maxManifestBytes: {
    env: "NIMBUS_REGISTRY_MAX_MANIFEST_BYTES",
    doc: "Largest manifest accepted (413 above it).",
    schema: int(4 * MiB, 64 * MiB),
    default: String(4 * MiB),
  },
  maxBlobBytes: {
    env: "NIMBUS_REGISTRY_MAX_BLOB_BYTES",
    doc: "Largest blob (layer) accepted, however it is uploaded.",
    schema: int(1, Number.MAX_SAFE_INTEGER),
    default: String(20 * GiB),
  },
  ...registryAuthSettings,
  ...registryMirrorSettings,
  metrics: metricsEnabled,
  // Shown against each org's usage (`nimbus registry usage`); an operator's per-org override wins.
  orgQuotaBytes: orgLimitSettings.orgRegistryQuotaBytes,
  authSecret,
  // The token ledger (revocations) and the org limits are watched over NATS; deletes go to the audit stream.
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsReplicas,
} satisfies SettingsSpec;
