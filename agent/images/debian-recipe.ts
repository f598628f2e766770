/**
 * `images build VERSION` for a Debian recipe (versions.ts `debian:`): a root filesystem made with
 * `mmdebstrap` from the archive apt uses, the kernel modules the guest loads (kernel-modules.ts),
 * the optional runner tarball (runner-tarball.ts), the recipe's setup script, then `mkfs.ext4 -d`
 * into the ImageStore under the ext4's own sha256 (verified before each boot like any image).
 *
 * The build is named by the digest of its inputs (recipe, package list, setup script, guest init,
 * guest kernel version, runner tarball): `recipes.json` maps it to the ext4's digest, so a second
 * build of unchanged inputs costs hashing, not a build. A build writes nothing but its own work
 * directory until the ext4 is complete; it never touches `active.json`, so a failed build leaves
 * the active image active.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/log.ts";
import { ext4FromDir, sh } from "./build.ts";
import { bakeModules, type GuestKernel } from "./kernel-modules.ts";
import { bakeRunner, checkRunnerTarball } from "./runner-tarball.ts";
import { sha256File, type BuiltImage, type ImageStore } from "./store.ts";
import type { ImageVersion } from "./versions.ts";

const log = createLogger("images");

/** Bump when the steps below change what an image holds (its inputs digest changes with it). */
const LAYOUT = "nimbus debian recipe v1";
const GUEST_DIR = join(import.meta.dir, "../guest");
const PACKAGE = /^[a-z0-9][a-z0-9+.-]{0,99}$/;
/** Smaller images: no man pages, docs (but copyrights) or translations. */
const DPKG_EXCLUDES = ["path-exclude=/usr/share/man/*", "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/locale/*", "path-exclude=/usr/share/info/*"];

export interface DebianBuildOptions {
  /** The guest kernel whose modules go into the image (needed when the recipe lists modules). */
  kernel?: GuestKernel;
  /** One line per step, and mmdebstrap's own progress lines. */
  onProgress?: (line: string) => void;
  mmdebstrap?: string;
}

export interface DebianBuilt extends BuiltImage {
  inputs: string;
  cached: boolean;
}

/** Package names of a packages file: one a line, `#` comments; a malformed name is refused by line. */
export function readPackages(file: string): string[] {
  if (!existsSync(file)) throw new AppError("not_found", `packages file ${file} not found`, { field: "packages_file" });
  const out: string[] = [];
  readFileSync(file, "utf8").split("\n").forEach((raw, i) => {
    const name = raw.replace(/#.*/, "").trim();
    if (!name) return;
    if (!PACKAGE.test(name)) throw new AppError("validation_failed", `${file}:${i + 1}: "${name.slice(0, 100)}" is not a Debian package name`, { field: "packages_file", line: i + 1 });
    if (!out.includes(name)) out.push(name);
  });
  if (!out.length) throw new AppError("validation_failed", `packages file ${file} lists no packages`, { field: "packages_file" });
  return out;
}

function guestInit(): (string | Uint8Array)[] {
  const files = readdirSync(GUEST_DIR).filter((f) => f === "init" || f.endsWith(".sh")).sort();
  return files.flatMap((f) => [f, readFileSync(join(GUEST_DIR, f))]);
}

/** The digest of everything the image is made from. */
export async function recipeInputs(v: ImageVersion, packages: string[], kernel?: GuestKernel): Promise<string> {
  const d = v.debian!;
  const h = new Bun.CryptoHasher("sha256");
  const part = (x: string | Uint8Array) => h.update(`${x.length}:`).update(x);
  part(LAYOUT);
  part(JSON.stringify({ suite: d.suite, variant: d.variant, modules: d.modules, sizeMiB: v.sizeMiB ?? null, packages }));
  part(d.setupScript ? readFileSync(d.setupScript) : "");
  for (const x of guestInit()) part(x);
  part(d.modules.length ? (kernel?.version ?? "") : "");
  part(v.runnerTarball ? await sha256File(v.runnerTarball) : "");
  return h.digest("hex");
}

interface RecipeEntry {
  version: string;
  ext4Digest: string;
  builtAt: string;
}

function recipes(store: ImageStore): Record<string, RecipeEntry> {
  const p = join(store.dir, "recipes.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as Record<string, RecipeEntry>) : {};
}

function remember(store: ImageStore, inputs: string, entry: RecipeEntry): void {
  const p = join(store.dir, "recipes.json");
  writeFileSync(`${p}.tmp`, JSON.stringify({ ...recipes(store), [inputs]: entry }, null, 2) + "\n");
  renameSync(`${p}.tmp`, p);
}

/** mmdebstrap's error for a package the archive does not have, as a refusal naming it. */
function mmdebstrapError(stderr: string, suite: string): AppError {
  const missing = /Unable to locate package (\S+)|Package '?([^'\s]+)'? has no installation candidate|E: Couldn't find any package by \S+ for '?([^'\s]+)/.exec(stderr);
  const name = missing?.[1] ?? missing?.[2] ?? missing?.[3];
  if (name) return new AppError("validation_failed", `package ${name} does not exist in Debian ${suite} (check the recipe's packages file)`, { field: "packages_file", package: name });
  return new AppError("unavailable", `mmdebstrap failed: ${stderr.trim().split("\n").slice(-6).join(" | ").slice(-600)}`);
}

/**
 * mmdebstrap into ROOT. A `--simulate` run goes first (apt resolves the package list, ~8 s here):
 * a package the archive does not have fails it, not the full build after its essential packages
 * are installed (~2 min).
 */
async function mmdebstrap(v: ImageVersion, packages: string[], root: string, opts: DebianBuildOptions): Promise<void> {
  await mmdebstrapRun(v, packages, `${root}.simulate`, opts, true);
  await mmdebstrapRun(v, packages, root, opts, false);
}

async function mmdebstrapRun(v: ImageVersion, packages: string[], root: string, opts: DebianBuildOptions, simulate: boolean): Promise<void> {
  const d = v.debian!;
  const argv = [opts.mmdebstrap ?? "mmdebstrap", ...(simulate ? ["--simulate"] : []), `--variant=${d.variant}`, `--include=${packages.join(",")}`, '--aptopt=APT::Install-Recommends "false"', ...DPKG_EXCLUDES.map((x) => `--dpkgopt=${x}`), d.suite, root];
  const p = Bun.spawn(argv, { stdout: "ignore", stderr: "pipe", env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  let stderr = "";
  const decoder = new TextDecoder();
  const reader = p.stderr.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    stderr = (stderr + text).slice(-20_000);
    for (const line of text.split("\n")) if (line.startsWith("I: ")) opts.onProgress?.(`${v.name}: mmdebstrap${simulate ? " --simulate" : ""}: ${line.slice(3)}`);
  }
  if ((await p.exited) !== 0) throw mmdebstrapError(stderr, d.suite);
}

/** An image with dockerd and the modules it needs for its bridge network and overlay storage. */
function servesDocker(v: ImageVersion, packages: string[]): boolean {
  const m = v.debian?.modules ?? [];
  return packages.includes("docker.io") && ["overlay", "bridge", "br_netfilter", "veth"].every((x) => m.includes(x));
}

/** Builds the recipe's image, or finds the one its inputs already made. */
export async function buildDebianImage(v: ImageVersion, store: ImageStore, opts: DebianBuildOptions = {}): Promise<DebianBuilt> {
  const d = v.debian;
  if (!d) throw new AppError("internal", `${v.name} is not a Debian recipe`);
  const say = (line: string) => (opts.onProgress ? opts.onProgress(line) : log.info(line));
  const packages = readPackages(d.packagesFile);
  if (d.modules.length && !opts.kernel) throw new AppError("unavailable", `${v.name} bakes kernel modules but no guest kernel was given (build the VM assets: bun run scripts/vm/build-assets.ts)`);
  if (v.runnerTarball) await checkRunnerTarball(v.runnerTarball);
  const inputs = await recipeInputs(v, packages, opts.kernel);
  const known = recipes(store)[inputs];
  if (known && existsSync(store.pathOf(known.ext4Digest))) {
    await store.verify(known.ext4Digest);
    const built = { version: v.name, digest: known.ext4Digest, sizeBytes: Bun.file(store.pathOf(known.ext4Digest)).size, builtAt: known.builtAt, inputs, docker: servesDocker(v, packages), runner: !!v.runnerTarball || undefined };
    store.record(built);
    say(`${v.name}: inputs ${inputs.slice(0, 12)} already built: sha256 ${known.ext4Digest}`);
    return { ...built, cached: true };
  }
  const work = join(store.dir, `build-${v.name}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const root = join(work, "root");
  const t0 = performance.now();
  try {
    say(`${v.name}: mmdebstrap ${d.suite} (${d.variant}, ${packages.length} packages)`);
    await mmdebstrap(v, packages, root, opts);
    if (d.modules.length) say(`${v.name}: kernel modules for ${opts.kernel!.version}: ${(await bakeModules(root, work, opts.kernel!, d.modules)).length} files`);
    if (v.runnerTarball) (say(`${v.name}: baking the runner from ${v.runnerTarball}`), await bakeRunner(v.runnerTarball, root));
    if (d.setupScript) (say(`${v.name}: ${d.setupScript}`), await sh('sh -eu "$1" "$2"', [d.setupScript, root]));
    say(`${v.name}: mkfs.ext4`);
    const { digest, sizeBytes } = await ext4FromDir(root, work, store, v.sizeMiB);
    const built = { version: v.name, digest, sizeBytes, builtAt: new Date().toISOString(), inputs, docker: servesDocker(v, packages), runner: !!v.runnerTarball || undefined };
    remember(store, inputs, { version: v.name, ext4Digest: digest, builtAt: built.builtAt });
    store.record(built);
    say(`${v.name}: built sha256 ${digest} (${Math.round(sizeBytes / 1048576)} MiB) in ${Math.round((performance.now() - t0) / 1000)} s`);
    return { ...built, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
