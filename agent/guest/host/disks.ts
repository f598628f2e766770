/**
 * Per-job disks shared by the microVM drivers: the writable job disk (a sparse ext4 without a
 * journal; it lives as long as the job) and the config disk. Both are safe to create twice.
 */
import { chmodSync, closeSync, existsSync, openSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { AppError } from "../../../src/core/errors.ts";
import { configDiskImage, type GuestConfig } from "./config.ts";

export async function ensureJobDisk(path: string, sizeGiB: number): Promise<void> {
  const bytes = sizeGiB * 1024 ** 3;
  if (existsSync(path) && statSync(path).size === bytes) return;
  const tmp = `${path}.part`;
  const proc = Bun.spawn(["sh", "-c", 'rm -f "$1" && truncate -s "$2" "$1" && mkfs.ext4 -q -F -O ^has_journal -E root_owner=0:0 "$1"', "sh", tmp, `${bytes}`], {
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` },
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new AppError("internal", `cannot create the job disk: ${err.trim()}`, { path });
  renameSync(tmp, path);
}

/** Copies a (sparse) disk image keeping it sparse, via a temporary file renamed into place. */
export async function copySparse(from: string, to: string): Promise<void> {
  const tmp = `${to}.part`;
  const proc = Bun.spawn(["cp", "--sparse=always", "--reflink=auto", from, tmp], { stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new AppError("internal", `cannot copy the disk image: ${err.trim()}`, { from, to });
  renameSync(tmp, to);
}

/**
 * Writes the job's config into a config disk a running guest already has open (a warm VM): in place,
 * the body first and the magic line last, so the guest never sees a half-written config as valid.
 */
export async function writeConfigInPlace(path: string, cfg: GuestConfig): Promise<void> {
  const img = configDiskImage(cfg);
  const fd = openSync(path, "r+");
  try {
    // QEMU reads through the host page cache (cache=unsafe): ordered writes suffice, no fsync.
    writeSync(fd, img, 8, img.length - 8, 8);
    writeSync(fd, img, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the config disk atomically (a restored snapshot may be about to read it), readable by its
 * owner only: it carries the job's secrets (a runner's JIT config, the cache token).
 */
export async function writeConfigDisk(path: string, cfg: GuestConfig): Promise<void> {
  const tmp = `${path}.part`;
  writeFileSync(tmp, configDiskImage(cfg), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
