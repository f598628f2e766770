/** Settings of the registry service process, declared once (see src/core/config/settings.ts). */
import { authSecret, host, listenPort, natsReplicas, natsToken, natsUrl, natsUser, natsPassword } from "../core/config/common.ts";
import { int, str, type SettingsSpec } from "../core/config/settings.ts";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

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
  authSecret,
  // The token ledger (revocations) is watched over NATS.
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsReplicas,
} satisfies SettingsSpec;
