/** What the registry's core and routes are given: stores, limits, the access seam, a logger, the mirror. */
import type { BlobStore } from "../blobs/store.ts";
import type { Logger } from "../core/log.ts";
import type { Access } from "./access.ts";
import type { Mirror } from "./mirror/mirror.ts";
import type { RepoStore } from "./repos.ts";
import type { SessionStore } from "./sessions.ts";

export interface RegistryDeps {
  blobs: BlobStore;
  repos: RepoStore;
  sessions: SessionStore;
  limits: { maxManifestBytes: number; maxBlobBytes: number };
  access: Access;
  log: Logger;
  /** The pull-through mirror, when upstreams are configured. */
  mirror?: Mirror;
}
