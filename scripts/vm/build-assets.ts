/**
 * Builds (or finds) everything the microVM drivers boot: kernel, initramfs, test rootfs, and
 * writes artifacts/vm/manifest.json, which src/vm/assets.ts reads. Idempotent.
 *
 *   bun run scripts/vm/build-assets.ts [--out DIR]
 */
import { mkdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { ensureInitramfs } from "./initramfs.ts";
import { ensureKernel } from "./kernel.ts";
import { ensureTestRootfs } from "./rootfs.ts";
import type { VmAssetManifest } from "../../src/vm/assets.ts";

export const DEFAULT_VM_ASSETS_DIR = resolve(import.meta.dir, "../../artifacts/vm");

let pending: Promise<VmAssetManifest> | undefined;

/** Builds what is missing and returns the manifest. Concurrent callers share one build. */
export function ensureVmAssets(outDir = DEFAULT_VM_ASSETS_DIR): Promise<VmAssetManifest> {
  pending ??= build(outDir).finally(() => (pending = undefined));
  return pending;
}

async function build(outDir: string): Promise<VmAssetManifest> {
  mkdirSync(outDir, { recursive: true });
  const kernel = await ensureKernel(outDir);
  const initramfs = await ensureInitramfs(outDir, kernel);
  const rootfs = await ensureTestRootfs(outDir);
  const rel = (p: string) => relative(outDir, p);
  const manifest: VmAssetManifest = {
    kernelVersion: kernel.version,
    kernel: rel(kernel.vmlinuz),
    vmlinux: kernel.vmlinux ? rel(kernel.vmlinux) : undefined,
    initramfs: rel(initramfs),
    rootfs: rel(rootfs),
  };
  await Bun.write(join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

if (import.meta.main) {
  const i = process.argv.indexOf("--out");
  const out = i > 0 ? resolve(process.argv[i + 1]!) : DEFAULT_VM_ASSETS_DIR;
  const t0 = performance.now();
  const m = await ensureVmAssets(out);
  console.log(JSON.stringify({ dir: out, ...m, ms: Math.round(performance.now() - t0) }, null, 2));
}
