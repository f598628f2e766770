/** Workspaces with deterministic contents, and byte-for-byte comparison of restored trees. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createHash } from "node:crypto";

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Pseudo-random bytes from a seed (incompressible, so archive size tracks file size). */
export function seededBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash("sha256").update(seed).digest();
  for (let off = 0; off < size; off += 32) {
    block.copy(out, off, 0, Math.min(32, size - off));
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** A tree under `root/dir`: a few small files, a nested one, and one file of `bigBytes`. */
export function writeTree(root: string, dir: string, seed: string, bigBytes = 64 * 1024): void {
  mkdirSync(join(root, dir, "nested/deeper"), { recursive: true });
  writeFileSync(join(root, dir, "a.txt"), `hello ${seed}\n`);
  writeFileSync(join(root, dir, "nested/b.json"), JSON.stringify({ seed, n: [1, 2, 3] }));
  writeFileSync(join(root, dir, "nested/deeper/big.bin"), seededBytes(seed, bigBytes));
}

/** Relative path -> sha256 of every file under `dir`. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
