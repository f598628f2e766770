/**
 * GitHub's matching order: for each readable scope in token order (own ref, PR base, default
 * branch), the primary key exactly, then as a prefix (newest first), then each restore key exactly,
 * then as a prefix. Always within the same organisation, repository and version.
 */
import type { CacheIndex } from "./index-db.ts";
import { readScopes, type CacheEntry, type Caller } from "./model.ts";

export function findEntry(index: CacheIndex, caller: Caller, version: string, keys: string[]): CacheEntry | undefined {
  for (const scope of readScopes(caller)) {
    for (const key of keys) {
      const hit = index.match(caller.org, caller.repo, scope, version, key, false) ?? index.match(caller.org, caller.repo, scope, version, key, true);
      if (hit) return hit;
    }
  }
  return undefined;
}
