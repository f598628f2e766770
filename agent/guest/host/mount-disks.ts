/**
 * Host directories made visible read-only inside a microVM (RunSpec.mounts, e.g. the GitHub runner
 * at /runner): each directory becomes a read-only ext4 image, built once with `mkfs.ext4 -d` and
 * shared by every VM that mounts the same content. Images are keyed by the directory's path and a
 * digest of its listing (relative path, type, size, mtime, mode), so a changed directory gets a new
 * image and the older images of that path are removed. The guest init mounts each image by its
 * virtio serial (`nimbus-<id>`), or by position after the three fixed disks (Firecracker).
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { AppError } from "../../../src/core/errors.ts";

export interface MountDisk {
  /** Drive id: m0, m1, … (serial `nimbus-m0`). */
  id: string;
  image: string;
  /** The host directory it was built from. */
  source: string;
  target: string;
}

/** What can be mounted: an absolute target that is not the root or a path the init owns. */
const TARGET = /^\/[A-Za-z0-9._/-]+$/;
const RESERVED = ["/proc", "/sys", "/dev", "/tmp", "/run", "/etc", "/.nimbus"];

/** Digest of a directory tree's listing; throws a clear error when the source is not a directory. */
export function treeDigest(source: string): { digest: string; bytes: number; files: number } {
  if (!isAbsolute(source) || !existsSync(source) || !statSync(source).isDirectory())
    throw new AppError("validation_failed", `mount source ${source} is not a directory`, { field: "mounts", source });
  const h = createHash("sha256");
  let bytes = 0;
  let files = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      files++;
      bytes += st.isFile() ? st.size : 0;
      h.update(`${relative(source, p)}\0${st.mode}\0${st.size}\0${Math.trunc(st.mtimeMs)}\n`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(source);
  return { digest: h.digest("hex"), bytes, files };
}

function checkTarget(target: string): void {
  const bad = !TARGET.test(target) || target.split("/").includes("..") || RESERVED.some((r) => target === r || target.startsWith(`${r}/`));
  if (bad) throw new AppError("validation_failed", `mount target ${target} must be an absolute path outside ${RESERVED.join(", ")}`, { field: "mounts", target });
}

/** Builds (or finds) the image of each mount under `cacheDir`; the i-th mount is drive `m<first + i>`. */
export async function mountDisks(cacheDir: string, mounts: { source: string; target: string }[] | undefined, first = 0): Promise<MountDisk[]> {
  if (!mounts?.length) return [];
  mkdirSync(cacheDir, { recursive: true });
  const out: MountDisk[] = [];
  for (const [i, m] of mounts.entries()) {
    checkTarget(m.target);
    out.push({ id: `m${first + i}`, image: await imageOf(cacheDir, m.source), source: m.source, target: m.target });
  }
  return out;
}

/**
 * The disks of a VM whose driver attaches `standing` mounts to every VM (so warm and restored VMs
 * have them too), for a job asking for `wanted`: the standing disks plus images of the mounts that
 * are not standing (`extra`: such a job cannot use a warm VM), and the ids the job mounts.
 */
export async function vmMounts(cacheDir: string, standing: MountDisk[], wanted: { source: string; target: string }[] | undefined) {
  const listed: string[] = [];
  const rest: { source: string; target: string }[] = [];
  for (const w of wanted ?? []) {
    const hit = standing.find((d) => d.target === w.target && d.source === w.source);
    if (hit) listed.push(hit.id);
    else rest.push(w);
  }
  const extra = await mountDisks(cacheDir, rest, standing.length);
  return { attached: [...standing, ...extra], listed: [...listed, ...extra.map((d) => d.id)], extra: extra.length > 0 };
}

const STALE_MS = 10 * 60_000;
const building = new Map<string, Promise<string>>();

function imageOf(cacheDir: string, source: string): Promise<string> {
  const tree = treeDigest(source);
  const pathKey = createHash("sha256").update(source).digest("hex").slice(0, 10);
  const file = join(cacheDir, `mount-${pathKey}-${tree.digest.slice(0, 16)}.ext4`);
  if (existsSync(file)) return Promise.resolve(dropReplaced(cacheDir, pathKey, file));
  let p = building.get(file);
  if (!p) {
    p = build(source, file, tree).finally(() => building.delete(file));
    building.set(file, p);
  }
  return p;
}

/**
 * Older images of the same directory serve no new VM once `current` exists; running VMs keep their
 * open file. They go once `current` is STALE_MS old, so a VM prepared just before the change can
 * still start with the image it was given.
 */
function dropReplaced(cacheDir: string, pathKey: string, current: string): string {
  if (Date.now() - statSync(current).mtimeMs < STALE_MS) return current;
  for (const old of readdirSync(cacheDir)) {
    const p = join(cacheDir, old);
    if (old.startsWith(`mount-${pathKey}-`) && p !== current && !old.endsWith(".part")) rmSync(p, { force: true });
  }
  return current;
}

async function build(source: string, file: string, tree: { bytes: number; files: number }): Promise<string> {
  // ext4 needs room for metadata: 10% plus a block per entry plus 8 MiB, in whole MiB.
  const mib = Math.ceil((tree.bytes * 1.1 + tree.files * 4096) / 2 ** 20) + 8;
  const tmp = `${file}.${process.pid}.part`;
  const proc = Bun.spawn(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", "-L", "nimbus-mount", "-d", source, tmp, `${mib}M`], {
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` },
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) {
    rmSync(tmp, { force: true });
    throw new AppError("internal", `cannot build the disk image of ${source}: ${err.trim()}`, { source });
  }
  renameSync(tmp, file);
  return file;
}
