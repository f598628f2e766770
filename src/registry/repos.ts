/**
 * Repository metadata on the filesystem, per repository: which blobs it links, its manifests (media
 * type, size, subject, artifact type) and its tags. The bytes themselves are in the shared blob
 * store; a repository sees a digest only through its own link, so content known in organisation B
 * is not readable from A until A has uploaded or mounted it.
 *
 *   <root>/<org>/<name…>/_layers/<hex>.json     { size, linkedAt }
 *   <root>/<org>/<name…>/_manifests/<hex>.json  ManifestRecord
 *   <root>/<org>/<name…>/_tags/<tag>            { digest, taggedAt }
 *
 * Every file is written atomically. A link file's atime is its last access (set on reads), for the
 * eviction and GC parts to use. Names and tags reach here only after the grammar (names.ts), and
 * every path is checked to stay under the root.
 */
import { readdir, readFile, rm, stat, utimes } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { writeFileAtomic } from "../blobs/atomic.ts";
import { hexOf, type Digest } from "../blobs/digest.ts";

export interface BlobLink {
  size: number;
  linkedAt: number;
}

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  subject?: Digest;
  artifactType?: string;
  annotations?: Record<string, string>;
  linkedAt: number;
}

type Kind = "_layers" | "_manifests" | "_tags";

export class RepoStore {
  readonly root: string;
  constructor(root: string, private readonly now: () => number = Date.now) {
    this.root = resolve(root);
  }

  private dir(repo: string, kind?: Kind): string {
    const p = resolve(this.root, ...repo.split("/"), ...(kind ? [kind] : []));
    if (!p.startsWith(this.root + sep)) throw new Error(`repository path escapes the store: ${repo}`);
    return p;
  }

  private file(repo: string, kind: Kind, leaf: string): string {
    if (leaf.includes("/") || leaf.includes(sep) || leaf.startsWith(".")) throw new Error(`bad metadata file name ${leaf}`);
    return join(this.dir(repo, kind), leaf);
  }

  private async readJson<T>(path: string): Promise<T | null> {
    const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ENOTDIR") return null;
      throw e;
    });
    return text === null ? null : (JSON.parse(text) as T);
  }

  /** Record a read, for last-access eviction later: best effort, never fails a read. */
  private touch(path: string): void {
    const t = new Date(this.now());
    void stat(path).then((s) => utimes(path, t, s.mtime)).catch(() => {});
  }

  async exists(repo: string): Promise<boolean> {
    return (await stat(this.dir(repo)).catch(() => null))?.isDirectory() ?? false;
  }

  async linkBlob(repo: string, digest: Digest, size: number): Promise<void> {
    const link: BlobLink = { size, linkedAt: this.now() };
    await writeFileAtomic(this.file(repo, "_layers", `${hexOf(digest)}.json`), JSON.stringify(link));
  }

  async blob(repo: string, digest: Digest, touch = false): Promise<BlobLink | null> {
    const path = this.file(repo, "_layers", `${hexOf(digest)}.json`);
    const link = await this.readJson<BlobLink>(path);
    if (link && touch) this.touch(path);
    return link;
  }

  async unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
    const path = this.file(repo, "_layers", `${hexOf(digest)}.json`);
    if (!(await this.readJson<BlobLink>(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  async putManifest(repo: string, rec: Omit<ManifestRecord, "linkedAt">): Promise<void> {
    const full: ManifestRecord = { ...rec, linkedAt: this.now() };
    await writeFileAtomic(this.file(repo, "_manifests", `${hexOf(rec.digest)}.json`), JSON.stringify(full));
  }

  async manifest(repo: string, digest: Digest, touch = false): Promise<ManifestRecord | null> {
    const path = this.file(repo, "_manifests", `${hexOf(digest)}.json`);
    const rec = await this.readJson<ManifestRecord>(path);
    if (rec && touch) this.touch(path);
    return rec;
  }

  async manifests(repo: string): Promise<ManifestRecord[]> {
    const dir = this.dir(repo, "_manifests");
    const names = await readdir(dir).catch(() => [] as string[]);
    const recs = await Promise.all(names.filter((n) => n.endsWith(".json")).map((n) => this.readJson<ManifestRecord>(join(dir, n))));
    return recs.filter((r): r is ManifestRecord => r !== null);
  }

  /** Remove a manifest and every tag that names it. */
  async deleteManifest(repo: string, digest: Digest): Promise<boolean> {
    const path = this.file(repo, "_manifests", `${hexOf(digest)}.json`);
    if (!(await this.readJson<ManifestRecord>(path))) return false;
    for (const tag of await this.tags(repo)) if ((await this.tag(repo, tag)) === digest) await this.deleteTag(repo, tag);
    await rm(path, { force: true });
    return true;
  }

  async setTag(repo: string, tag: string, digest: Digest): Promise<void> {
    await writeFileAtomic(this.file(repo, "_tags", tag), JSON.stringify({ digest, taggedAt: this.now() }));
  }

  /** The tag with the time it was last set (the mirror revalidates a tag by its age). */
  async tagRecord(repo: string, tag: string): Promise<{ digest: Digest; taggedAt: number } | null> {
    return this.readJson<{ digest: Digest; taggedAt: number }>(this.file(repo, "_tags", tag));
  }

  async tag(repo: string, tag: string): Promise<Digest | null> {
    return (await this.readJson<{ digest: Digest }>(this.file(repo, "_tags", tag)))?.digest ?? null;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    const path = this.file(repo, "_tags", tag);
    if (!(await this.readJson(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  /** Tags in lexical (code point) order. */
  async tags(repo: string): Promise<string[]> {
    const names = await readdir(this.dir(repo, "_tags")).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith(".")).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
