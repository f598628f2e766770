/**
 * `nimbus images build|activate|list`: the rootfs pipeline on this host. Images live in
 * NIMBUS_IMAGES_DIR (the agent's setting; default artifacts/images); the agent boots the active one,
 * verified against its recorded digest. The pipeline is the agent's: this runs its command
 * (agent/images/main.ts) as a process and words the JSON it answers.
 */
import { isCompiled } from "../../core/binaries.ts";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { AppError, type ErrorCode } from "../../core/errors.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";
import { bytes } from "./cache.ts";
import { table } from "../output.ts";

const DIR_DOC = "Images are kept in $NIMBUS_IMAGES_DIR (default artifacts/images), where agents look for them.";

const ENTRY = resolve(import.meta.dir, "../../../agent/images/main.ts");
/** Nimbus's own recipes (the `ci` image), used when no --file is given and ./images.yaml does not exist. */
export const BUILTIN_IMAGES_FILE = resolve(import.meta.dir, "../../../scripts/images/images.yaml");

export function imagesFile(given: unknown): string {
  if (given !== undefined) return resolve(String(given));
  return existsSync("images.yaml") ? resolve("images.yaml") : BUILTIN_IMAGES_FILE;
}

interface BuiltImage {
  version: string;
  digest: string;
  sizeBytes: number;
  builtAt: string;
  cached?: boolean;
}

/** Runs the agent's image command (its progress lines pass through on stderr); its errors come back with their codes. */
export async function agentImages<T>(ctx: CliContext, args: string[]): Promise<T> {
  // The image pipeline runs recipes from the source tree (mmdebstrap, the guest init): a checkout's job.
  if (isCompiled()) throw new AppError("unavailable", "images are built from a Nimbus checkout (./bin/nimbus images …); copy its artifacts/images to this host's NIMBUS_IMAGES_DIR");
  const p = Bun.spawn([process.execPath, ENTRY, ...args], { env: ctx.env, stdout: "pipe", stderr: "inherit" });
  const [text, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  let answer: { ok?: T; error?: { code: ErrorCode; message: string; details?: Record<string, unknown> } };
  try {
    answer = JSON.parse(text.trim().split("\n").at(-1) ?? "");
  } catch {
    throw new AppError("internal", `the image pipeline (${ENTRY}) exited ${code} without an answer`);
  }
  if (answer.error) throw new AppError(answer.error.code, answer.error.message, answer.error.details);
  return answer.ok as T;
}

export const imagesBuild: Command = {
  name: "images build",
  summary: "build a rootfs version from the images file (a base archive, or a Debian recipe such as ci)",
  usage: "images build VERSION [--file images.yaml] [--activate] [--json]",
  details: `Reads VERSION from the images file (default ./images.yaml, else Nimbus's own recipes in
scripts/images/images.yaml, which define \`ci\`). An archive version (versions.<name>.{description,
base_url|base_path, sha256, overlay_dir, size_mib}; paths relative to the file): downloads or copies
the base archive, refuses it unless its sha256 matches, unpacks it, applies the overlay. A Debian
recipe (versions.<name>.debian.{suite, variant, packages_file, setup_script, modules}, optional
runner_tarball): mmdebstrap from the archive apt uses, the guest kernel's modules (from the VM
assets' kernel package), the runner tarball at /runner, the setup script; built once per digest of
its inputs (a second build of unchanged inputs is a cache hit). Either way the result is an ext4
image named by its own sha256, verified before each boot. Progress goes to stderr. --activate
activates it once built (a failed build leaves the active image active). ${DIR_DOC}`,
  options: { file: { type: "string" }, activate: { type: "boolean" } },
  positionals: { min: 1, max: 1, name: "VERSION" },
  async run(ctx, v, [version]) {
    const file = imagesFile(v.file);
    const built = await agentImages<BuiltImage>(ctx, ["build", version!, file, ...(v.activate ? ["--activate"] : [])]);
    if (ctx.json) return ctx.out(JSON.stringify(built, null, 2)), 0;
    const next = v.activate ? "active now" : `activate it with: nimbus images activate ${built.version}`;
    ctx.out(`built ${built.version}: sha256 ${built.digest} (${bytes(built.sizeBytes)})${built.cached ? ", cached (inputs unchanged)" : ""}; ${next}`);
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
    const img = await agentImages<BuiltImage>(ctx, ["activate", version!]);
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
    const store = await agentImages<{ dir: string; active: { version: string; digest: string } | null; built: BuiltImage[] }>(ctx, ["list"]);
    const { active, built } = store;
    if (ctx.json) return ctx.out(JSON.stringify(store, null, 2)), 0;
    if (!built.length) return ctx.out(`no images built in ${store.dir} (nimbus images build VERSION)`), 0;
    const rows = built.map((b) => ({ active: b.version === active?.version ? "*" : "", version: b.version, sha256: b.digest.slice(0, 16), size: bytes(b.sizeBytes), built: b.builtAt }));
    ctx.out(table(rows, ["active", "version", "sha256", "size", "built"]));
    return 0;
  },
};
