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
 * Every file is written atomically. A link file's atime is its last access (set on reads, `touch`),
 * for garbage collection and quota eviction (src/registry/gc/); metadata is otherwise read with
 * O_NOATIME, so the collector's own reads never look like use. Every link and unlink is told to the
 * observers (the org usage of src/registry/quota/). Names and tags reach here only after the
 * grammar (names.ts), and every path is checked to stay under the root.
 */
import { constants } from "node:fs";
import { open, readdir, readFile, rm, stat, utimes } from "node:fs/promises";
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

/** What a repository links, as the collector and eviction see it: `lastAccess` is the link file's atime. */
export interface LinkInfo {
  digest: Digest;
  size: number;
  linkedAt: number;
  lastAccess: number;
}

export type LinkKind = "blob" | "manifest";

/** Told of every link written and removed (after the file is). */
export interface LinkObserver {
  linked(repo: string, kind: LinkKind, digest: Digest, size: number): void;
  unlinked(repo: string, kind: LinkKind, digest: Digest): void;
}

const HEX = /^([a-f0-9]{64})\.json$/;

/** Read a small file without moving its atime (the owner may; anyone else falls back to a plain read). */
async function readNoAtime(path: string): Promise<string> {
  const h = await open(path, constants.O_RDONLY | constants.O_NOATIME).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "EPERM") return null;
    throw e;
  });
  if (!h) return readFile(path, "utf8");
  try {
    return await h.readFile("utf8");
  } finally {
    await h.close();
  }
}

export class RepoStore {
  readonly root: string;
  private readonly observers: LinkObserver[] = [];
  constructor(root: string, private readonly now: () => number = Date.now) {
    this.root = resolve(root);
  }

  observe(o: LinkObserver): void {
    this.observers.push(o);
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
    const text = await readNoAtime(path).catch((e: NodeJS.ErrnoException) => {
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
    for (const o of this.observers) o.linked(repo, "blob", digest, size);
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
    for (const o of this.observers) o.unlinked(repo, "blob", digest);
    return true;
  }

  async putManifest(repo: string, rec: Omit<ManifestRecord, "linkedAt">): Promise<void> {
    const full: ManifestRecord = { ...rec, linkedAt: this.now() };
    await writeFileAtomic(this.file(repo, "_manifests", `${hexOf(rec.digest)}.json`), JSON.stringify(full));
    for (const o of this.observers) o.linked(repo, "manifest", rec.digest, rec.size);
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
    for (const o of this.observers) o.unlinked(repo, "manifest", digest);
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

  /** Every repository (a folder holding metadata), under `org` when given, sorted. */
  async repositories(org?: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, name: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      if (entries.some((e) => e.isDirectory() && (e.name === "_layers" || e.name === "_manifests" || e.name === "_tags"))) out.push(name);
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith("_") && !e.name.startsWith(".")) await walk(join(dir, e.name), name ? `${name}/${e.name}` : e.name);
    };
    await walk(org ? this.dir(org) : this.root, org ?? "");
    return out.filter(Boolean).sort();
  }

  /** The blob (`_layers`) or manifest links of a repository, with each link file's last access. */
  async links(repo: string, kind: LinkKind): Promise<LinkInfo[]> {
    const dir = this.dir(repo, kind === "blob" ? "_layers" : "_manifests");
    const names = await readdir(dir).catch(() => [] as string[]);
    const infos = await Promise.all(
      names.map(async (n) => {
        const hex = HEX.exec(n)?.[1];
        if (!hex) return null;
        const [link, st] = await Promise.all([this.readJson<{ size: number; linkedAt: number }>(join(dir, n)), stat(join(dir, n)).catch(() => null)]);
        if (!link || !st) return null;
        return { digest: `sha256:${hex}` as Digest, size: link.size, linkedAt: link.linkedAt, lastAccess: Math.max(st.atimeMs, link.linkedAt) };
      }),
    );
    return infos.filter((i): i is LinkInfo => i !== null);
  }

  /** Each tag of a repository and the digest it names. */
  async tagMap(repo: string): Promise<Map<string, Digest>> {
    const out = new Map<string, Digest>();
    for (const t of await this.tags(repo)) {
      const d = await this.tag(repo, t);
      if (d) out.set(t, d);
    }
    return out;
  }
}
