/**
 * `images build VERSION`: fetch (download or copy) the base archive, verify its sha256, unpack it,
 * apply the overlay, make an ext4 with `mkfs.ext4 -d`, and store it under its own digest.
 * Rebuilding an unchanged version yields the same content digest only if mkfs is deterministic,
 * so the digest recorded is always the one of the file that was written.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/log.ts";
import { sha256File, type BuiltImage, type ImageStore } from "./store.ts";
import type { ImageVersion } from "./versions.ts";

const log = createLogger("images");

export async function sh(script: string, args: string[]): Promise<string> {
  const p = Bun.spawn(["sh", "-ec", script, "sh", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new AppError("internal", `image build step failed: ${err.trim().slice(-400)}`);
  return out;
}

/** The base archive in the cache, fetched once and verified every time. */
async function fetchBase(v: ImageVersion, cacheDir: string, fetchFn: typeof fetch): Promise<string> {
  if (!v.sha256) throw new AppError("internal", `${v.name} has no base archive`);
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, `${v.sha256}.base`);
  if (!existsSync(file)) {
    if (v.basePath) copyFileSync(v.basePath, `${file}.part`);
    else {
      const res = await fetchFn(v.baseUrl!);
      if (!res.ok) throw new AppError("unavailable", `downloading ${v.name}'s base failed: HTTP ${res.status}`);
      await Bun.write(`${file}.part`, res);
    }
    await sh('mv "$1" "$2"', [`${file}.part`, file]);
  }
  const actual = await sha256File(file);
  if (actual !== v.sha256) {
    rmSync(file, { force: true });
    throw new AppError("forbidden", `base of ${v.name} has sha256 ${actual}, expected ${v.sha256}`, { reason: "digest_mismatch" });
  }
  return file;
}

/**
 * `mkfs.ext4 -d` of a root directory, stored under the image's own sha256 (`store.pathOf`); the
 * size is the content plus 30 % and 8 MiB unless given. Returns the digest and size in bytes.
 */
export async function ext4FromDir(root: string, work: string, store: ImageStore, sizeMiB?: number): Promise<{ digest: string; sizeBytes: number }> {
  const usedKiB = Number((await sh('du -sk "$1" | cut -f1', [root])).trim());
  const size = sizeMiB ?? Math.max(16, Math.ceil((usedKiB * 1.3) / 1024) + 8);
  const img = join(work, "image.ext4");
  await sh('mkfs.ext4 -q -F -L nimbus-root -E root_owner=0:0 -d "$1" "$2" "$3"M', [root, img, `${size}`]);
  const digest = await sha256File(img);
  await sh('mv "$1" "$2"', [img, store.pathOf(digest)]);
  return { digest, sizeBytes: size * 1024 * 1024 };
}

export async function buildImage(v: ImageVersion, store: ImageStore, opts: { fetch?: typeof fetch } = {}): Promise<BuiltImage> {
  const base = await fetchBase(v, join(store.dir, "cache"), opts.fetch ?? fetch);
  const work = join(store.dir, `build-${v.name}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, "root"), { recursive: true });
  try {
    await sh('tar -xf "$1" -C "$2" --numeric-owner', [base, join(work, "root")]);
    if (v.overlayDir) await sh('cp -a "$1"/. "$2"/', [v.overlayDir, join(work, "root")]);
    const { digest, sizeBytes } = await ext4FromDir(join(work, "root"), work, store, v.sizeMiB);
    const built: BuiltImage = { version: v.name, digest, sizeBytes, builtAt: new Date().toISOString() };
    store.record(built);
    log.info("image built", { version: v.name, digest });
    return built;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
