/**
 * The image pipeline as a command of the agent package, which `nimbus images` runs as a process (the
 * CLI never imports the agent):
 *
 *   bun agent/images/main.ts build VERSION FILE [--activate] | activate VERSION | list
 *
 * A Debian recipe (versions.ts `debian:`) is built with mmdebstrap against the VM assets' kernel
 * ($NIMBUS_VM_ASSETS_DIR, default artifacts/vm); `--activate` activates it once built (a failed
 * build activates nothing).
 *
 * The store is $NIMBUS_IMAGES_DIR (default artifacts/images). The answer is one JSON line on stdout:
 * `{"ok": …}`, or `{"error": {code, message, details}}` with exit code 1. Progress logs go to stderr.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { AppError, isAppError } from "../../src/core/errors.ts";
import { DEFAULT_IMAGES_DIR } from "../../src/agents/settings.ts";
import { DEFAULT_ASSETS_DIR, loadVmAssets } from "../../src/vm/assets.ts";
import { buildImage } from "./build.ts";
import { buildDebianImage } from "./debian-recipe.ts";
import { kernelDebIn } from "./kernel-modules.ts";
import { ImageStore } from "./store.ts";
import { loadVersions } from "./versions.ts";

async function build(store: ImageStore, version: string, file: string, env: Record<string, string | undefined>) {
  if (!existsSync(file)) throw new AppError("not_found", `images file ${file} not found (give --file)`, { file });
  const versions = loadVersions(file);
  const want = versions.get(version);
  if (!want) throw new AppError("not_found", `no version ${version} in ${file} (it has: ${[...versions.keys()].join(", ") || "none"})`, { version });
  if (!want.debian) return buildImage(want, store);
  const assetsDir = resolve(env.NIMBUS_VM_ASSETS_DIR || DEFAULT_ASSETS_DIR);
  const kernel = want.debian.modules.length ? loadVmAssets(assetsDir).kernelVersion : undefined;
  return buildDebianImage(want, store, {
    kernel: kernel ? { version: kernel, deb: kernelDebIn(assetsDir, kernel) } : undefined,
    onProgress: (line) => process.stderr.write(`nimbus images: ${line}\n`),
  });
}

function list(store: ImageStore) {
  const built = Object.values(store.index()).sort((a, b) => b.builtAt.localeCompare(a.builtAt));
  return { dir: store.dir, active: store.active() ?? null, built };
}

export async function imagesCommand(args: string[], env: Record<string, string | undefined>): Promise<unknown> {
  const store = new ImageStore(resolve(env.NIMBUS_IMAGES_DIR || DEFAULT_IMAGES_DIR));
  const [verb, version, file, flag] = args;
  if (verb === "build" && version && file) {
    const built = await build(store, version, resolve(file), env);
    if (flag === "--activate") store.activate(version);
    return built;
  }
  if (verb === "activate" && version) return store.activate(version);
  if (verb === "list") return list(store);
  throw new AppError("validation_failed", `usage: build VERSION FILE [--activate] | activate VERSION | list (got: ${args.join(" ") || "nothing"})`);
}

if (import.meta.main) {
  try {
    const ok = await imagesCommand(process.argv.slice(2), process.env);
    process.stdout.write(JSON.stringify({ ok }) + "\n");
  } catch (e) {
    const error = isAppError(e) ? e.toJSON() : { code: "internal", message: e instanceof Error ? e.message : String(e) };
    process.stdout.write(JSON.stringify({ error }) + "\n");
    process.exit(1);
  }
}
