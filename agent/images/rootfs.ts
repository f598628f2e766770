/**
 * The drivers' `rootfs` hook: for an `image:<ref>` job, that OCI image converted to ext4 (cached
 * by digest, verified); otherwise the active image, verified against its digest before each boot.
 * Without an active image, the VM assets' test rootfs is used when `fallback` is given.
 */
import { AppError, isAppError } from "../../src/core/errors.ts";
import type { RunSpec } from "../vm/run.ts";
import type { OciImages } from "./oci.ts";
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

export function jobRootfs(opts: { store: ImageStore; oci?: OciImages; fallback?: string }): (spec: RunSpec) => Promise<string> {
  const active = activeImageRootfs(opts.store, opts.fallback);
  return async (spec) => {
    const image = spec.requirements.image;
    if (!image) return active();
    if (!opts.oci) throw new AppError("unavailable", `job asks for image:${image} but this agent has no OCI image cache`, { image });
    return (await opts.oci.resolve(image)).path;
  };
}
