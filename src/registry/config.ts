/**
 * Settings of the registry service process, declared once (see src/core/config/settings.ts): the
 * distribution API's own (listen address, storage, limits) and its authentication settings
 * (`registryAuthSettings`, read by src/registry/auth/ through `registryAuthDeps`).
 */
import * as v from "valibot";
import { authSecret, host, listenPort, natsReplicas, natsToken, natsUrl, natsUser, natsPassword } from "../core/config/common.ts";
import { int, list, str, url, type SettingsSpec } from "../core/config/settings.ts";
import { isOrgId } from "../auth/principal.ts";
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
  authSecret,
  // The token ledger (revocations) is watched over NATS.
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsReplicas,
} satisfies SettingsSpec;
