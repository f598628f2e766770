/**
 * The optional Actions runner tarball a recipe bakes into its image (the release archive a user
 * downloads, `actions-runner-linux-x64-*.tar.gz`). Refused unless it is a gzip tar that holds a
 * runner (`bin/Runner.Listener` or `config.sh` at its top), and unless every member stays inside
 * the directory it is unpacked into (no absolute paths, no `..`, no links pointing out).
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { AppError } from "../../src/core/errors.ts";
import { sh } from "./build.ts";

/** Where the runner lands in the image (the agent mounts a host runner at the same place). */
export const BAKED_RUNNER_DIR = "runner";

const MARKERS = ["bin/Runner.Listener", "config.sh"];

function refuse(path: string, why: string): AppError {
  return new AppError("validation_failed", `runner tarball ${path} refused: ${why}`, { field: "runner_tarball", reason: "not_a_runner" });
}

function isGzip(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Member names of a gzip tar, or the refusal that says why the file is not one. */
async function members(path: string): Promise<string[]> {
  if (!existsSync(path) || !statSync(path).isFile()) throw refuse(path, "no such file");
  if (!isGzip(path)) throw refuse(path, "not a gzip file (expected the actions/runner release .tar.gz)");
  let names: string[];
  try {
    names = (await sh('tar -tzf "$1"', [path])).split("\n").filter(Boolean);
  } catch {
    names = [];
  }
  if (!names.length) throw refuse(path, "gzip, but not a readable tar archive (no members)");
  return names;
}

/** Checks the tarball is a runner and safe to unpack; returns its member count. */
export async function checkRunnerTarball(path: string): Promise<number> {
  const names = await members(path);
  const clean = names.map((n) => n.replace(/^\.\//, ""));
  const escaping = clean.find((n) => n.startsWith("/") || n.split("/").includes(".."));
  if (escaping) throw refuse(path, `member "${escaping.slice(0, 200)}" would land outside the runner directory`);
  if (!MARKERS.some((m) => clean.includes(m))) throw refuse(path, `it holds no runner (neither ${MARKERS.join(" nor ")} at its top)`);
  // Links may point anywhere once unpacked: a runner's have relative targets inside it.
  const links = (await sh('tar -tvzf "$1" | grep -E "^[lh]" || true', [path])).split("\n").filter(Boolean);
  const outward = links.find((l) => / -> (\/|.*\.\.)/.test(l) || / link to (\/|.*\.\.)/.test(l));
  if (outward) throw refuse(path, `link "${outward.slice(0, 200)}" points outside the runner directory`);
  return names.length;
}

/** Unpacks a checked tarball into ROOT/runner, owned by the job user. */
export async function bakeRunner(path: string, root: string, uid = 1000): Promise<void> {
  await checkRunnerTarball(path);
  await sh('mkdir -p "$2/$3" && tar -xzf "$1" -C "$2/$3" --no-same-owner --no-same-permissions --delay-directory-restore && chown -R "$4:$4" "$2/$3"', [path, root, BAKED_RUNNER_DIR, String(uid)]);
}
