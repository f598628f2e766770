/**
 * `nimbus images build|activate|list`: the rootfs pipeline on this host (agent/images). Images live
 * in NIMBUS_IMAGES_DIR (the agent's setting; default artifacts/images); the agent boots the active
 * one, verified against its recorded digest.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { buildImage } from "../../../agent/images/build.ts";
import { DEFAULT_IMAGES_DIR, ImageStore } from "../../../agent/images/store.ts";
import { loadVersions } from "../../../agent/images/versions.ts";
import { AppError } from "../../core/errors.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";
import { bytes } from "./cache.ts";
import { table } from "../output.ts";

const DIR_DOC = "Images are kept in $NIMBUS_IMAGES_DIR (default artifacts/images), where agents look for them.";

function storeOf(ctx: CliContext): ImageStore {
  return new ImageStore(resolve(ctx.env.NIMBUS_IMAGES_DIR || DEFAULT_IMAGES_DIR));
}

export const imagesBuild: Command = {
  name: "images build",
  summary: "build a rootfs version from the images file: fetch, verify sha256, overlay, ext4",
  usage: "images build VERSION [--file images.yaml] [--json]",
  details: `Reads VERSION from the images file (YAML: versions.<name>.{description, base_url|base_path,
sha256, overlay_dir, size_mib}; paths relative to the file), downloads or copies the base archive,
refuses it unless its sha256 matches, unpacks it, applies the overlay and writes an ext4 image named
by its own sha256. Building a version again replaces its record. ${DIR_DOC}`,
  options: { file: { type: "string" } },
  positionals: { min: 1, max: 1, name: "VERSION" },
  async run(ctx, v, [version]) {
    const file = resolve(String(v.file ?? "images.yaml"));
    if (!existsSync(file)) throw new AppError("not_found", `images file ${file} not found (give --file)`, { file });
    const versions = loadVersions(file);
    const want = versions.get(version!);
    if (!want) throw new AppError("not_found", `no version ${version} in ${file} (it has: ${[...versions.keys()].join(", ") || "none"})`, { version });
    const built = await buildImage(want, storeOf(ctx));
    if (ctx.json) return ctx.out(JSON.stringify(built, null, 2)), 0;
    ctx.out(`built ${built.version}: sha256 ${built.digest} (${bytes(built.sizeBytes)}); activate it with: nimbus images activate ${built.version}`);
    return 0;
  },
};

export const imagesActivate: Command = {
  name: "images activate",
  summary: "make a built version the rootfs new VM jobs boot (atomic)",
  usage: "images activate VERSION [--json]",
  details: `Jobs already running keep their image. ${DIR_DOC}`,
  options: {},
  positionals: { min: 1, max: 1, name: "VERSION" },
  async run(ctx, _v, [version]) {
    const img = storeOf(ctx).activate(version!);
    if (ctx.json) return ctx.out(JSON.stringify(img, null, 2)), 0;
    ctx.out(`active: ${img.version} (sha256 ${img.digest})`);
    return 0;
  },
};

export const imagesList: Command = {
  name: "images list",
  summary: "list built rootfs versions and which one is active",
  usage: "images list [--json]",
  details: DIR_DOC,
  options: {},
  async run(ctx) {
    const store = storeOf(ctx);
    const active = store.active();
    const built = Object.values(store.index()).sort((a, b) => b.builtAt.localeCompare(a.builtAt));
    if (ctx.json) return ctx.out(JSON.stringify({ dir: store.dir, active: active ?? null, built }, null, 2)), 0;
    if (!built.length) return ctx.out(`no images built in ${store.dir} (nimbus images build VERSION)`), 0;
    const rows = built.map((b) => ({ active: b.version === active?.version ? "*" : "", version: b.version, sha256: b.digest.slice(0, 16), size: bytes(b.sizeBytes), built: b.builtAt }));
    ctx.out(table(rows, ["active", "version", "sha256", "size", "built"]));
    return 0;
  },
};
