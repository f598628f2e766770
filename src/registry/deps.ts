/** What the registry's core and routes are given: stores, limits, the access seam, pins and quota, a logger, the mirror. */
import type { Access } from "./access.ts";
import type { BlobStore } from "../blobs/store.ts";
import type { Logger } from "../core/log.ts";
import type { Mirror } from "./mirror/mirror.ts";
import type { Pins } from "./pins.ts";
import type { Quota } from "./quota/quota.ts";
import type { RepoStore } from "./repos.ts";
import type { SessionStore } from "./sessions.ts";

export interface RegistryDeps {
  blobs: BlobStore;
  repos: RepoStore;
  sessions: SessionStore;
  limits: { maxManifestBytes: number; maxBlobBytes: number };
  access: Access;
  /** Digests a push is checking and linking, kept from the collector (src/registry/gc/). */
  pins: Pins;
  /** The org quota, taken before anything is linked. */
  quota: Quota;
  log: Logger;
  /** The pull-through mirror, when upstreams are configured. */
  mirror?: Mirror;
}
