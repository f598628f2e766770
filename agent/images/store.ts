/**
 * Built images, content-addressed: `<dir>/<sha256>.ext4`, an index of version -> digest, and the
 * active version in `active.json` (replaced atomically by rename). The agent verifies an image's
 * digest before it boots it; a tampered image is refused.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";

export interface BuiltImage {
  version: string;
  digest: string;
  sizeBytes: number;
  builtAt: string;
  /** Debian recipes: the digest of the inputs the image was made from (debian-recipe.ts). */
  inputs?: string;
  /** The image carries dockerd and the kernel modules it needs (the ci image): its agents serve `docker` jobs. */
  docker?: boolean;
  /** The recipe baked a runner tarball in at /runner: GitHub jobs' VMs start it instead of a mounted one. */
  runner?: boolean;
}

export class ImageStore {
  private readonly verified = new Map<string, string>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  pathOf(digest: string): string {
    return join(this.dir, `${digest}.ext4`);
  }

  private readJson<T>(file: string, fallback: T): T {
    const p = join(this.dir, file);
    return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as T) : fallback;
  }

  private writeJson(file: string, value: unknown): void {
    const p = join(this.dir, file);
    writeFileSync(`${p}.tmp`, JSON.stringify(value, null, 2) + "\n");
    renameSync(`${p}.tmp`, p);
  }

  index(): Record<string, BuiltImage> {
    return this.readJson("index.json", {});
  }

  record(img: BuiltImage): void {
    this.writeJson("index.json", { ...this.index(), [img.version]: img });
  }

  /** Makes VERSION the one new jobs boot. Atomic; the version must have been built. */
  activate(version: string): BuiltImage {
    const img = this.index()[version];
    if (!img || !existsSync(this.pathOf(img.digest))) throw new AppError("not_found", `image version ${version} is not built (run: nimbus images build ${version})`, { version });
    this.writeJson("active.json", { version, digest: img.digest, activatedAt: new Date().toISOString() });
    return img;
  }

  active(): { version: string; digest: string } | undefined {
    return this.readJson<{ version: string; digest: string } | undefined>("active.json", undefined);
  }

  /** What the index says of the active image (read at agent start: activating another image needs an agent restart to change what follows from it). */
  activeImage(): BuiltImage | undefined {
    const a = this.active();
    return a && Object.values(this.index()).find((i) => i.digest === a.digest);
  }

  /** Whether the active image serves `docker` jobs. */
  activeServesDocker(): boolean {
    return !!this.activeImage()?.docker;
  }

  /** Whether the active image has a runner baked in at /runner. */
  activeHasRunner(): boolean {
    return !!this.activeImage()?.runner;
  }

  /** The active image's path, after checking its content against its recorded digest. */
  async verifiedActive(): Promise<string> {
    const a = this.active();
    if (!a) throw new AppError("not_found", "no image is active (run: nimbus images activate VERSION)");
    return this.verify(a.digest);
  }

  /** Re-hashes the file unless it is unchanged (same inode, size and mtime) since the last check. */
  async verify(digest: string): Promise<string> {
    const path = this.pathOf(digest);
    if (!existsSync(path)) throw new AppError("not_found", `image ${digest.slice(0, 12)} is missing`, { digest });
    const st = statSync(path);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.verified.get(path) === stamp) return path;
    const actual = await sha256File(path);
    if (actual !== digest)
      throw new AppError("forbidden", `image ${digest.slice(0, 12)} failed verification: its content hashes to ${actual.slice(0, 12)}; refusing to boot it`, { reason: "digest_mismatch", expected: digest, actual });
    this.verified.set(path, stamp);
    return path;
  }
}

export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  const reader = Bun.file(path).stream().getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    h.update(value);
  }
  return h.digest("hex");
}
