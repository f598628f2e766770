/**
 * Filesystem store: one file per object under `root/objects`, written to `root/tmp` with positional
 * writes (the fastest path measured under Bun), fsynced, then renamed into place. Reads return a
 * file slice, which Bun sends with sendfile and a Content-Length. Nothing is read ahead: asking the
 * kernel for the range first (posix_fadvise WILLNEED) made cold downloads slower, not faster
 * (scripts/bench/registry.ts --profile).
 */
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { open, rename, rm, rmdir, stat, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { AppError } from "../../core/errors.ts";
import { privateDir } from "../../core/private-files.ts";
import { fsyncDir } from "../atomic.ts";
import { checkFinalSize, chunksOf, tooLarge } from "./limits.ts";
import { checkObjectName, type ObjectStore, type Piece, type PutLimits } from "./types.ts";

export interface FsStoreOptions {
  /**
   * Where objects go (default `root/objects`). The registry keeps its blobs at `root/sha256/...`
   * (`objectsDir` = root, the layout it always had); names starting with `tmp/` would then meet the
   * store's own temp files, so such a caller must not use them.
   */
  objectsDir?: string;
}

export function fsStore(root: string, o: FsStoreOptions = {}): ObjectStore {
  const objects = o.objectsDir ?? join(root, "objects");
  const tmp = join(root, "tmp");
  privateDir(root);
  privateDir(objects);
  privateDir(tmp);
  const path = (name: string) => join(objects, checkObjectName(name));

  /**
   * Stream `body` into `file` at `offset`. Disk writes overlap reading the body: while one write
   * (writev of every chunk that arrived meanwhile) is in flight, the next chunks are gathered, up to
   * 16 MiB before reading waits for the disk.
   */
  async function write(file: string, body: ReadableStream<Uint8Array>, limits: PutLimits, offset = 0, flags = "w"): Promise<number> {
    const max = Math.min(limits.maxBytes, limits.expectedBytes ?? Infinity);
    const fh = await open(file, flags);
    let pos = 0;
    let at = offset;
    let batch: Uint8Array[] = [];
    let batched = 0;
    let writing: Promise<void> | undefined;
    let failed: unknown;
    const drain = async () => {
      while (batch.length) {
        const bufs = batch;
        const n = batched;
        (batch = []), (batched = 0);
        const { bytesWritten } = await fh.writev(bufs, at);
        if (bytesWritten !== n) throw new Error(`short write: ${bytesWritten} of ${n} bytes`);
        at += n;
      }
    };
    const kick = () => (writing ??= drain().then(() => void (writing = undefined), (e) => void ((failed = e), (writing = undefined))));
    try {
      for await (const chunk of chunksOf(body)) {
        if (failed) throw failed;
        if (pos + chunk.byteLength > max) throw tooLarge(limits);
        batch.push(chunk);
        (batched += chunk.byteLength), (pos += chunk.byteLength);
        if (!writing) kick();
        else if (batched >= 16 * 1024 * 1024) await writing;
      }
      await writing;
      await drain();
      if (failed) throw failed;
      checkFinalSize(pos, limits);
      if (limits.sync !== false) await fh.sync();
      return pos;
    } finally {
      await writing?.catch(() => undefined);
      await fh.close();
    }
  }

  return {
    kind: "fs",
    async put(name, body, limits) {
      const dest = path(name);
      const temp = join(tmp, randomBytes(12).toString("hex"));
      try {
        const n = await write(temp, body, limits);
        mkdirSync(dirname(dest), { recursive: true });
        await rename(temp, dest);
        return n;
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
    },
    async putAt(name, offset, body, limits) {
      const dest = path(name);
      mkdirSync(dirname(dest), { recursive: true });
      const fh = await open(dest, "a"); // create without truncating, then write positionally
      await fh.close();
      return write(dest, body, limits, offset, "r+");
    },
    async compose(dest, pieces) {
      const file = path(dest);
      const { at, inPlace, size } = layout(dest, pieces);
      const copies = pieces.map((p, i) => ({ file: path(p.object), start: p.start, size: p.size, at: at[i]! }));
      mkdirSync(dirname(file), { recursive: true });
      if (pieces.every((p, i) => p.object !== dest || inPlace[i])) {
        await (await open(file, "a")).close(); // create without truncating: placed blocks stay
        return copyPieces(file, "r+", copies.filter((_, i) => !inPlace[i]), size);
      }
      const temp = join(tmp, randomBytes(12).toString("hex")); // a block of dest is out of place: build anew, then swap
      try {
        await copyPieces(temp, "w", copies, size);
        await rename(temp, file);
        return size;
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
    },
    async adopt(name, file) {
      const dest = path(name);
      const fh = await open(file, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
      await rename(file, dest);
      await fsyncDir(dirname(dest));
    },
    async read(name, start, end) {
      const file = path(name);
      if (!(await stat(file).catch(() => undefined))?.isFile()) throw new AppError("not_found", "the stored object is missing");
      return Bun.file(file).slice(start, end + 1);
    },
    async size(name) {
      const s = await stat(path(name)).catch(() => undefined);
      return s?.isFile() ? s.size : undefined;
    },
    async stat(name) {
      const s = await stat(path(name)).catch(() => undefined);
      return s?.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
    },
    async touch(name) {
      const now = new Date();
      await utimes(path(name), now, now).catch(() => undefined);
    },
    async delete(names) {
      for (const name of names) {
        await rm(path(name), { force: true });
        await rmdir(dirname(path(name))).catch(() => undefined); // only succeeds once the entry's folder is empty
      }
    },
    async *list(prefix) {
      for (const rel of walk(objects)) {
        if (!rel.startsWith(prefix) || rel.startsWith("tmp/")) continue;
        const s = statSync(join(objects, rel), { throwIfNoEntry: false }); // removed since the walk saw it
        if (s) yield { name: rel, size: s.size, mtimeMs: s.mtimeMs };
      }
    },
    async check() {
      await stat(objects);
    },
  };
}

function* walk(dir: string, base = ""): Generator<string> {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const rel = base ? `${base}/${d.name}` : d.name;
    if (d.isDirectory()) yield* walk(join(dir, d.name), rel);
    else yield rel;
  }
}

/** Offsets of the pieces in the archive, and whether each already sits there (in `dest` itself). */
function layout(dest: string, pieces: Piece[]): { at: number[]; inPlace: boolean[]; size: number } {
  const at: number[] = [];
  let size = 0;
  for (const p of pieces) (at.push(size), (size += p.size));
  return { at, inPlace: pieces.map((p, i) => p.object === dest && p.start === at[i]), size };
}

/** Write the pieces not yet in place at their offsets in `out` (a file path), cut it to size, fsync. */
async function copyPieces(out: string, flags: string, pieces: { file: string; start: number; size: number; at: number }[], size: number): Promise<number> {
  const fh = await open(out, flags);
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (const p of pieces) {
      const src = await open(p.file, "r");
      try {
        for (let done = 0; done < p.size; ) {
          const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, p.size - done), p.start + done);
          if (bytesRead === 0) throw new Error(`${p.file} ends before byte ${p.start + p.size}`);
          await fh.write(buf, 0, bytesRead, p.at + done);
          done += bytesRead;
        }
      } finally {
        await src.close();
      }
    }
    await fh.truncate(size);
    await fh.sync();
    return size;
  } finally {
    await fh.close();
  }
}
