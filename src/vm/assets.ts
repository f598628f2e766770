/**
 * Where the microVM drivers find their boot assets: `<dir>/manifest.json`, written by
 * `bun run scripts/vm/build-assets.ts` (the default dir is artifacts/vm). Paths in the manifest are
 * relative to the dir. A missing asset is an error that names the command that builds it.
 */
import { ARTIFACTS_DIR } from "../core/binaries.ts";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { AppError } from "../core/errors.ts";

export interface VmAssetManifest {
  kernelVersion: string;
  /** bzImage (QEMU). */
  kernel: string;
  /** Uncompressed ELF kernel (Firecracker), when it could be extracted. */
  vmlinux?: string;
  initramfs: string;
  /** The default rootfs (the test image) when no image is activated. */
  rootfs: string;
}

export interface VmAssets {
  kernelVersion: string;
  kernel: string;
  vmlinux?: string;
  initramfs: string;
  rootfs: string;
}

export const DEFAULT_ASSETS_DIR = join(ARTIFACTS_DIR, "vm");
export const BUILD_COMMAND = "bun run scripts/vm/build-assets.ts";

/** Loads and checks the manifest; throws `unavailable` naming the build command. */
export function loadVmAssets(dir = DEFAULT_ASSETS_DIR): VmAssets {
  const path = join(dir, "manifest.json");
  const missing = (what: string) =>
    new AppError("unavailable", `VM assets missing (${what}) in ${dir}: run \`${BUILD_COMMAND}\``, { dir, command: BUILD_COMMAND });
  if (!existsSync(path)) throw missing("manifest.json");
  const m = JSON.parse(readFileSync(path, "utf8")) as VmAssetManifest;
  const abs = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  const assets: VmAssets = {
    kernelVersion: m.kernelVersion,
    kernel: abs(m.kernel),
    vmlinux: m.vmlinux ? abs(m.vmlinux) : undefined,
    initramfs: abs(m.initramfs),
    rootfs: abs(m.rootfs),
  };
  for (const key of ["kernel", "initramfs", "rootfs"] as const) if (!existsSync(assets[key])) throw missing(key);
  return assets;
}
