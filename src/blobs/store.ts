/**
 * A content-addressed blob store over an object store (backend/: the filesystem or S3): bytes are
 * kept once, as object `sha256/<2 hex>/<64 hex>`, however many repositories, organisations or
 * services refer to them. Access control is the callers' (a registry repository links a digest;
 * the store does not know who may read it).
 *
 * Writes go to a local temp file (`<root>/tmp/<id>`), possibly over several calls (an upload in
 * chunks), with the digest computed while the bytes stream in. `commit` checks the digest and only
 * then hands the file to the object store: the filesystem store renames it in (same filesystem, no
 * copy), S3 gets it streamed. A blob is visible whole or not at all.
 */
import { mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { checkDigest, hexOf, type Digest } from "./digest.ts";
import { BlobError } from "./errors.ts";
import type { ByteRange } from "./range.ts";
import { fsStore } from "./backend/fs.ts";
import type { ObjectStore } from "./backend/types.ts";

const TEMP_ID = /^[A-Za-z0-9_-]{1,100}$/;

export interface StoredBlob {
  digest: Digest;
  size: number;
}

export interface ListedBlob extends StoredBlob {
  /** When the bytes were stored, in ms since the epoch (garbage collection spares recent ones). */
  mtimeMs: number;
}

const PREFIX = "sha256/";
const nameOf = (d: Digest) => {
  const hex = hexOf(d);
  return `${PREFIX}${hex.slice(0, 2)}/${hex}`;
};

export interface AppendOptions {
  /** The temp file may not grow past this many bytes (the rest of the body is not read). */
  maxBytes: number;
  /** Bytes the caller declared; a body that ends short of (or runs past) it is refused and undone. */
  expectBytes?: number;
}

interface Hashing {
  hasher: Bun.CryptoHasher;
  /** Bytes the hasher has seen: valid while it equals the temp file's size. */
  size: number;
}

/** Told of bytes as they change (metrics keep the store's size without walking it). */
export interface BlobObserver {
  /** Bytes written into temp files (uploads as they stream in). */
  written?(bytes: number): void;
  /** A blob newly stored (not one already there). */
  stored?(size: number): void;
  /** A blob's bytes removed. */
  removed?(size: number): void;
}

export class BlobStore {
  /** Running digests of temp files, so a chunked upload is hashed once, as it arrives. */
  private readonly hashing = new Map<string, Hashing>();
  observer: BlobObserver = {};

  /**
   * `root` holds the temp files of writes in progress (always local); `objects` keeps the blobs
   * (default: the filesystem store at `root`, blobs at `root/sha256/<2 hex>/<64 hex>`, so a commit is a rename).
   */
  constructor(
    readonly root: string,
    readonly objects: ObjectStore = fsStore(root, { objectsDir: root }),
  ) {}

  async init(): Promise<this> {
    await mkdir(join(this.root, "tmp"), { recursive: true, mode: 0o700 });
    return this;
  }

  async stat(d: Digest): Promise<{ size: number; mtimeMs: number } | null> {
    return (await this.objects.stat(nameOf(d))) ?? null;
  }

  /**
   * The blob's bytes (or a range of them): a Blob (a file slice, sent with sendfile) or a stream.
   * The caller has seen the blob with `stat` (a missing one fails here with not_found).
   */
  async read(d: Digest, range?: ByteRange): Promise<Blob | ReadableStream<Uint8Array>> {
    const r = range ?? { start: 0, end: ((await this.stat(d))?.size ?? 0) - 1 };
    if (r.end < r.start) return new Blob([]);
    return this.objects.read(nameOf(d), r.start, r.end);
  }

  async bytes(d: Digest): Promise<Uint8Array | null> {
    if (!(await this.stat(d))) return null;
    return new Uint8Array(await new Response(await this.read(d)).arrayBuffer());
  }

  /** Remove a blob's bytes (garbage collection's sweep; callers make sure nothing links it). */
  async remove(d: Digest): Promise<void> {
    const s = await this.stat(d);
    await this.objects.delete([nameOf(d)]);
    if (s) this.observer.removed?.(s.size);
  }

  /** Same as `remove`. */
  delete(d: Digest): Promise<void> {
    return this.remove(d);
  }

  /** Every stored blob with its size and mtime (its commit, or its last re-commit), for the sweep. Objects that are not blobs of this store are skipped. */
  async *list(): AsyncGenerator<ListedBlob> {
    for await (const o of this.objects.list(PREFIX)) {
      const digest = checkDigest(`sha256:${o.name.slice(o.name.lastIndexOf("/") + 1)}`);
      if (typeof digest === "string" && digest.startsWith("sha256:") && o.name === nameOf(digest as Digest)) yield { digest: digest as Digest, size: o.size, mtimeMs: o.mtimeMs };
    }
  }

  /** Temp files (uploads in progress, or left by a crash) with their size and last write. */
  async temps(): Promise<{ id: string; size: number; mtimeMs: number }[]> {
    const dir = join(this.root, "tmp");
    const ids = (await readdir(dir).catch(() => [] as string[])).filter((id) => TEMP_ID.test(id));
    const all = await Promise.all(ids.map(async (id) => ({ id, s: await stat(join(dir, id)).catch(() => null) })));
    return all.filter((t) => t.s?.isFile()).map((t) => ({ id: t.id, size: t.s!.size, mtimeMs: t.s!.mtimeMs }));
  }

  newTempId(): string {
    return randomUUID();
  }

  private tempPath(id: string): string {
    if (!TEMP_ID.test(id)) throw new BlobError("bad_id", "not a temp file id");
    return join(this.root, "tmp", id);
  }

  /** Bytes of a temp file still being written (the registry's mirror streams a blob while storing it). */
  readTemp(id: string, range: ByteRange): Blob {
    return Bun.file(this.tempPath(id)).slice(range.start, range.end + 1);
  }

  /** Create an empty temp file (an upload session's data). */
  async createTemp(id: string): Promise<void> {
    const h = await open(this.tempPath(id), "wx", 0o600);
    await h.close();
    this.hashing.set(id, { hasher: new Bun.CryptoHasher("sha256"), size: 0 });
  }

  /** The temp file's size, or null when there is none. */
  async tempSize(id: string): Promise<number | null> {
    const s = await stat(this.tempPath(id)).catch(() => null);
    return s ? s.size : null;
  }

  /**
   * Append a streamed body to a temp file. On any failure (limit, short body, a cut connection) the
   * file is cut back to where it was, so a failed request adds nothing. Returns the new size.
   */
  async append(id: string, body: ReadableStream<Uint8Array> | null, o: AppendOptions): Promise<number> {
    const path = this.tempPath(id);
    const start = await this.tempSize(id);
    if (start === null) throw new BlobError("unknown_temp", "no such upload");
    const h = await open(path, "a");
    const hs = this.hashing.get(id);
    const hashing = hs && hs.size === start ? hs : undefined;
    if (!hashing) this.hashing.delete(id);
    let n = 0;
    try {
      if (body) {
        const reader = body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          n += value.byteLength;
          if (start + n > o.maxBytes || (o.expectBytes !== undefined && n > o.expectBytes)) {
            reader.cancel().catch(() => {});
            throw start + n > o.maxBytes
              ? new BlobError("too_large", `the blob would pass the limit of ${o.maxBytes} bytes`, { limit: o.maxBytes })
              : new BlobError("short_write", `the body ran past the ${o.expectBytes} bytes declared`);
          }
          await h.write(value);
          this.observer.written?.(value.byteLength);
          hashing?.hasher.update(value);
        }
      }
      if (o.expectBytes !== undefined && n !== o.expectBytes)
        throw new BlobError("short_write", `the body had ${n} bytes of the ${o.expectBytes} declared`);
      if (hashing) hashing.size = start + n;
      return start + n;
    } catch (e) {
      this.hashing.delete(id);
      await h.truncate(start).catch(() => {});
      throw e;
    } finally {
      await h.close();
    }
  }

  /** The digest of the temp file's bytes: the running one when it is current, else read back from disk. */
  private async tempDigest(id: string, size: number): Promise<Digest> {
    const hs = this.hashing.get(id);
    this.hashing.delete(id);
    if (hs && hs.size === size) return `sha256:${hs.hasher.digest("hex")}`;
    const hasher = new Bun.CryptoHasher("sha256");
    const reader = Bun.file(this.tempPath(id)).stream().getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) hasher.update(r.value);
    return `sha256:${hasher.digest("hex")}`;
  }

  /**
   * Move a temp file into the store under `expected` (or whatever it hashes to, without one). A
   * digest that does not match discards the temp file: nothing is stored.
   */
  async commit(id: string, expected?: Digest): Promise<StoredBlob> {
    const tmp = this.tempPath(id);
    const size = await this.tempSize(id);
    if (size === null) throw new BlobError("unknown_temp", "no such upload");
    const digest = await this.tempDigest(id, size);
    if (expected && digest !== expected) {
      await this.discard(id);
      throw new BlobError("digest_mismatch", `the content's digest is ${digest}, not ${expected}`, { actual: digest });
    }
    if (await this.stat(digest)) {
      await this.discard(id); // stored once: the bytes are already here
      // A re-commit is a fresh use: garbage collection's grace window counts from it (stores
      // without `touch`, S3, count from the first commit; the in-process pins cover a push there).
      await this.objects.touch?.(nameOf(digest));
      return { digest, size };
    }
    const name = nameOf(digest);
    if (this.objects.adopt) await this.objects.adopt(name, tmp);
    else {
      await this.objects.put(name, Bun.file(tmp).stream(), { maxBytes: size, expectedBytes: size });
      await this.discard(id);
    }
    this.observer.stored?.(size);
    return { digest, size };
  }

  async discard(id: string): Promise<void> {
    this.hashing.delete(id);
    await rm(this.tempPath(id), { force: true });
  }

  /** Store a streamed body in one go (a monolithic upload), checked against `expected` if given. */
  async putStream(body: ReadableStream<Uint8Array> | null, o: AppendOptions & { expected?: Digest }): Promise<StoredBlob> {
    const id = this.newTempId();
    await this.createTemp(id);
    try {
      await this.append(id, body, o);
      return await this.commit(id, o.expected);
    } catch (e) {
      await this.discard(id);
      throw e;
    }
  }

  async putBytes(bytes: Uint8Array, expected?: Digest): Promise<StoredBlob> {
    return this.putStream(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), { maxBytes: bytes.byteLength, expected });
  }
}
