/** The cache's data model: scopes from the runtime token, entries in the index, segments in storage. */

import { READ, WRITE, type Caller } from "../protocol/cache-token.ts";

/** Scopes and callers are the runtime token's (src/protocol/cache-token.ts). */
export { READ, WRITE, type CacheScope, type Caller } from "../protocol/cache-token.ts";

/** `deleting`: removed from the index everywhere but its home, which deletes the data and then the entry. */
export type EntryState = "uploading" | "ready" | "deleting";
export type Protocol = "v1" | "v2";

export interface Segment {
  object: string;
  size: number;
}

export interface CacheEntry {
  id: number;
  repo: string;
  org: string;
  scope: string;
  key: string;
  version: string;
  state: EntryState;
  protocol: Protocol;
  declaredSize: number | null;
  size: number;
  createdAt: number;
  committedAt: number | null;
  lastUsedAt: number;
  /** v2 after Put Block List: part names in list order. */
  blockList: string[] | null;
  /** Ready entries: the objects that make up the archive, in order. */
  segments: Segment[];
  /** The cache replica that took the upload (its peer URL): it holds the parts, sweeps the entry, and serves the archive to other replicas unless `shared`. */
  home: string;
  /** The archive is in storage every replica reads (S3), not on the home's disk. */
  shared: boolean;
}

export interface Part {
  name: string;
  /** Byte offset in the archive: v1 chunks (Content-Range) and v2 blocks written into the archive file; null for other v2 parts. */
  start: number | null;
  size: number;
  object: string;
}

export function readScopes(caller: Caller): string[] {
  return caller.scopes.filter((s) => (s.permission & READ) !== 0).map((s) => s.scope);
}

/** GitHub writes to the first writable scope only. */
export function writeScope(caller: Caller): string | undefined {
  return caller.scopes.find((s) => (s.permission & WRITE) !== 0)?.scope;
}
