/**
 * The rootfs versions file (YAML). A version is either an archive (a base tarball, verified by
 * sha256, plus an overlay) or a Debian recipe built with `mmdebstrap` (debian-recipe.ts):
 *
 *   versions:
 *     ubuntu-24.04-runner-2:
 *       description: Ubuntu 24.04 with the Actions runner
 *       base_url: https://example.invalid/rootfs.tar.gz   # or base_path: relative to this file
 *       sha256: 3b2f...                                     # of the base archive
 *       overlay_dir: overlays/runner                        # optional, relative to this file
 *       size_mib: 4096                                      # optional; default: content + 30%
 *     ci:
 *       description: Debian bookworm for CI jobs
 *       debian:
 *         suite: bookworm
 *         packages_file: ci-packages.txt                    # one package a line, relative to this file
 *         setup_script: ci-setup.sh                         # run on the host with the root as $1
 *         modules: [overlay, bridge, veth]                  # kernel modules the guest loads at boot
 *       runner_tarball: actions-runner.tar.gz               # optional: baked in at /runner
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { AppError } from "../../src/core/errors.ts";

export interface DebianRecipe {
  suite: string;
  /** mmdebstrap --variant (default minbase). */
  variant: string;
  packagesFile: string;
  setupScript?: string;
  modules: string[];
}

export interface ImageVersion {
  name: string;
  description: string;
  baseUrl?: string;
  basePath?: string;
  /** Of the base archive; absent for Debian recipes (their image is named by the digest of their inputs). */
  sha256?: string;
  overlayDir?: string;
  sizeMiB?: number;
  debian?: DebianRecipe;
  runnerTarball?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const WORD = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MODULE = /^[A-Za-z0-9_-]{1,64}$/;

function bad(field: string, why: string): AppError {
  return new AppError("validation_failed", `images file: ${field}: ${why}`, { field });
}

function parseDebian(name: string, d: unknown, abs: (p: unknown) => string | undefined): DebianRecipe {
  if (!d || typeof d !== "object") throw bad(`${name}.debian`, "must be a mapping");
  const r = d as Record<string, unknown>;
  const suite = r.suite ?? "bookworm";
  const variant = r.variant ?? "minbase";
  if (typeof suite !== "string" || !WORD.test(suite)) throw bad(`${name}.debian.suite`, "a Debian suite name such as bookworm");
  if (typeof variant !== "string" || !WORD.test(variant)) throw bad(`${name}.debian.variant`, "an mmdebstrap variant such as minbase");
  if (typeof r.packages_file !== "string") throw bad(`${name}.debian.packages_file`, "missing (a file of package names, one a line)");
  const modules = r.modules ?? [];
  if (!Array.isArray(modules) || !modules.every((m) => typeof m === "string" && MODULE.test(m))) throw bad(`${name}.debian.modules`, "a list of kernel module names");
  if (r.setup_script !== undefined && typeof r.setup_script !== "string") throw bad(`${name}.debian.setup_script`, "a path");
  return { suite, variant, packagesFile: abs(r.packages_file)!, setupScript: abs(r.setup_script), modules: modules as string[] };
}

export function parseVersions(text: string, baseDir: string): Map<string, ImageVersion> {
  const doc = parse(text) as { versions?: Record<string, Record<string, unknown>> } | null;
  if (!doc?.versions || typeof doc.versions !== "object") throw bad("versions", "missing");
  const abs = (p: unknown) => (typeof p === "string" ? (isAbsolute(p) ? p : join(baseDir, p)) : undefined);
  const out = new Map<string, ImageVersion>();
  for (const [name, v] of Object.entries(doc.versions)) {
    if (!NAME.test(name)) throw bad(name, "version names are letters, digits, '.', '_' and '-'");
    if (!v || typeof v !== "object") throw bad(name, "must be a mapping");
    if (v.size_mib !== undefined && (!Number.isInteger(v.size_mib) || (v.size_mib as number) < 8)) throw bad(`${name}.size_mib`, "a whole number >= 8");
    if (v.runner_tarball !== undefined && typeof v.runner_tarball !== "string") throw bad(`${name}.runner_tarball`, "a path");
    const common = { name, description: typeof v.description === "string" ? v.description : "", sizeMiB: v.size_mib as number | undefined };
    if (v.debian !== undefined) {
      if (v.base_url || v.base_path) throw bad(`${name}.debian`, "a Debian recipe has no base_url or base_path");
      out.set(name, { ...common, debian: parseDebian(name, v.debian, abs), runnerTarball: abs(v.runner_tarball) });
      continue;
    }
    if (!v.base_url === !v.base_path) throw bad(`${name}.base_url`, "give exactly one of base_url and base_path (or a debian recipe)");
    if (typeof v.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(v.sha256)) throw bad(`${name}.sha256`, "64 lowercase hex digits, quoted");
    out.set(name, {
      ...common,
      baseUrl: typeof v.base_url === "string" ? v.base_url : undefined,
      basePath: abs(v.base_path),
      sha256: v.sha256,
      overlayDir: abs(v.overlay_dir),
    });
  }
  return out;
}

export function loadVersions(path: string): Map<string, ImageVersion> {
  return parseVersions(readFileSync(path, "utf8"), dirname(path));
}
