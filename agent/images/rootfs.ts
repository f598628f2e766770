/**
 * The drivers' `rootfs` hook: the active image, verified against its digest before each boot.
 * Without an active image, the VM assets' test rootfs is used when `fallback` is given.
 */
import { isAppError } from "../../src/core/errors.ts";
import type { ImageStore } from "./store.ts";

export function activeImageRootfs(store: ImageStore, fallback?: string): () => Promise<string> {
  return async () => {
    try {
      return await store.verifiedActive();
    } catch (e) {
      if (fallback && isAppError(e, "not_found") && !store.active()) return fallback;
      throw e;
    }
  };
}
