/**
 * Settings of the registry service process, declared once (see src/core/config/settings.ts): the
 * distribution API's own (listen address, storage, limits), its authentication settings
 * (`registryAuthSettings`, read by src/registry/auth/ through `registryAuthDeps`) and garbage
 * collection's (`registryGcSettings`).
 */
import * as v from "valibot";
import { authSecret, host, listenPort, metricsEnabled, natsReplicas, natsToken, natsUrl, natsUser, natsPassword, natsJwt, natsSeed } from "../core/config/common.ts";
import { bool, int, list, optionalStr, str, url, type SettingsSpec } from "../core/config/settings.ts";
import { isOrgId } from "../auth/principal.ts";
import { orgRegistryQuotaSetting } from "../jobs/limits/config.ts";
import { storageSettings } from "../blobs/settings.ts";

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
  mirrorMaxBytes: {
    env: "NIMBUS_REGISTRY_MIRROR_MAX_BYTES",
    doc: "Bytes the mirror's cache may keep (all upstreams together; 0: no budget). Past NIMBUS_REGISTRY_QUOTA_SOFT_PERCENT of it, the least recently used mirrored images go, tagged or not (the mirror fetches them again when asked).",
    schema: int(0, Number.MAX_SAFE_INTEGER),
    default: "0",
  },
  mirrorTimeoutSeconds: {
    env: "NIMBUS_REGISTRY_MIRROR_TIMEOUT_SECONDS",
    doc: "An upstream that has not answered, or sent no bytes of a body, for this long is treated as down.",
    schema: int(1, 600),
    default: "30",
  },
} satisfies SettingsSpec;

const DAY = 86_400;
const seconds = (env: string, doc: string, min: number, max: number, dflt: number) => ({ env, doc, schema: int(min, max), default: String(dflt) });

/** Garbage collection, abandoned uploads and the org quota's eviction (src/registry/gc/, src/registry/quota/). */
export const registryGcSettings = {
  gcIntervalSeconds: seconds("NIMBUS_REGISTRY_GC_INTERVAL_SECONDS", "How often garbage collection runs (online: pushes and pulls go on); `nimbus registry gc` runs it at once.", 1, 7 * DAY, 3600),
  gcGraceSeconds: seconds(
    "NIMBUS_REGISTRY_GC_GRACE_SECONDS",
    "Anything linked, read or committed this recently is kept, referenced or not, so a push racing the collector keeps the blobs it is about to name. Longer than your slowest push.",
    1, 30 * DAY, 3600,
  ),
  gcUntaggedSeconds: seconds(
    "NIMBUS_REGISTRY_GC_UNTAGGED_SECONDS",
    "An untagged manifest that no tagged one reaches (an overwritten tag's old image, a push by digest) is kept while pushed or pulled within this window (0: only the grace window).",
    0, 3650 * DAY, 7 * DAY,
  ),
  uploadIdleSeconds: seconds("NIMBUS_REGISTRY_UPLOAD_IDLE_SECONDS", "An upload that receives no bytes for this long is abandoned: the collector removes it and its data.", 1, 30 * DAY, 3600),
  quotaSoftPercent: {
    env: "NIMBUS_REGISTRY_QUOTA_SOFT_PERCENT",
    doc: "Past this share of an organisation's registry quota, its least recently used untagged content is evicted (after pushes and at each collection) until it is back under.",
    schema: int(1, 100),
    default: "90",
  },
  // The org's default quota (NIMBUS_ORG_REGISTRY_QUOTA_BYTES); an override in the org limits wins.
  orgQuotaBytes: orgRegistryQuotaSetting,
} satisfies SettingsSpec;

export const registrySettings = {
  host: host("NIMBUS_REGISTRY_HOST", "Address the registry (OCI distribution API) listens on."),
  port: listenPort("NIMBUS_REGISTRY_PORT", "Port of the registry.", 7075),
  dir: {
    env: "NIMBUS_REGISTRY_DIR",
    doc: "Data directory of the registry: blobs (stored once by sha256; with NIMBUS_REGISTRY_STORAGE=s3 they go to the bucket instead), repository metadata, uploads in progress.",
    schema: str(),
    default: ".nimbus/registry",
  },
  ...storageSettings({ prefix: "NIMBUS_REGISTRY", what: "blobs (layers, configs, manifests)", s3Prefix: "registry/" }),
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
  ...registryGcSettings,
  metrics: metricsEnabled,
  authSecret,
  // The token ledger (revocations) and the org limits are watched over NATS; deletes go to the audit stream.
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsJwt,
  natsSeed,
  natsReplicas,
} satisfies SettingsSpec;
