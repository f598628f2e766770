/**
 * Per-job disks shared by the microVM drivers: the writable job disk (a sparse ext4 without a
 * journal; it lives as long as the job) and the config disk. Both are safe to create twice.
 */
import { existsSync, renameSync, statSync } from "node:fs";
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

/** Writes the config disk atomically (a restored snapshot may be about to read it). */
export async function writeConfigDisk(path: string, cfg: GuestConfig): Promise<void> {
  const tmp = `${path}.part`;
  await Bun.write(tmp, configDiskImage(cfg));
  renameSync(tmp, path);
}
