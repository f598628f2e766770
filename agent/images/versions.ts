/**
 * The rootfs versions file (YAML):
 *
 *   versions:
 *     ubuntu-24.04-runner-2:
 *       description: Ubuntu 24.04 with the Actions runner
 *       base_url: https://example.invalid/rootfs.tar.gz   # or base_path: relative to this file
 *       sha256: 3b2f...                                     # of the base archive
 *       overlay_dir: overlays/runner                        # optional, relative to this file
 *       size_mib: 4096                                      # optional; default: content + 30%
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { AppError } from "../../src/core/errors.ts";

export interface ImageVersion {
  name: string;
  description: string;
  baseUrl?: string;
  basePath?: string;
  sha256: string;
  overlayDir?: string;
  sizeMiB?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function bad(field: string, why: string): AppError {
  return new AppError("validation_failed", `images file: ${field}: ${why}`, { field });
}

export function parseVersions(text: string, baseDir: string): Map<string, ImageVersion> {
  const doc = parse(text) as { versions?: Record<string, Record<string, unknown>> } | null;
  if (!doc?.versions || typeof doc.versions !== "object") throw bad("versions", "missing");
  const abs = (p: unknown) => (typeof p === "string" ? (isAbsolute(p) ? p : join(baseDir, p)) : undefined);
  const out = new Map<string, ImageVersion>();
  for (const [name, v] of Object.entries(doc.versions)) {
    if (!NAME.test(name)) throw bad(name, "version names are letters, digits, '.', '_' and '-'");
    if (!v || typeof v !== "object") throw bad(name, "must be a mapping");
    if (!v.base_url === !v.base_path) throw bad(`${name}.base_url`, "give exactly one of base_url and base_path");
    if (typeof v.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(v.sha256)) throw bad(`${name}.sha256`, "64 lowercase hex digits, quoted");
    if (v.size_mib !== undefined && (!Number.isInteger(v.size_mib) || (v.size_mib as number) < 8)) throw bad(`${name}.size_mib`, "a whole number >= 8");
    out.set(name, {
      name,
      description: typeof v.description === "string" ? v.description : "",
      baseUrl: typeof v.base_url === "string" ? v.base_url : undefined,
      basePath: abs(v.base_path),
      sha256: v.sha256,
      overlayDir: abs(v.overlay_dir),
      sizeMiB: v.size_mib as number | undefined,
    });
  }
  return out;
}

export function loadVersions(path: string): Map<string, ImageVersion> {
  return parseVersions(readFileSync(path, "utf8"), dirname(path));
}
