/** What the collector and eviction are given: the stores, the pins, org usage, and the policy's windows. */
import type { BlobStore } from "../../blobs/store.ts";
import type { Logger } from "../../core/log.ts";
import type { Pins } from "../pins.ts";
import type { OrgUsage } from "../quota/usage.ts";
import type { RepoStore } from "../repos.ts";
import type { SessionStore } from "../sessions.ts";
import type { LinkInfo } from "../repos.ts";

export interface GcPolicy {
  /** Anything linked, read or committed within this window is kept, reachable or not. */
  graceMs: number;
  /** An untagged manifest that nothing tagged reaches stays while linked or read within this window. */
  untaggedMs: number;
  /** An upload with no new bytes for this long is abandoned. */
  uploadIdleMs: number;
}

export interface GcDeps {
  repos: RepoStore;
  blobs: BlobStore;
  sessions: SessionStore;
  pins: Pins;
  usage: OrgUsage;
  policy: GcPolicy;
  log: Logger;
}

/** Linked or read within the grace window. */
export const fresh = (l: LinkInfo, now: number, graceMs: number) => now - Math.max(l.linkedAt, l.lastAccess) < graceMs;
