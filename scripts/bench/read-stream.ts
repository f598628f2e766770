/**
 * (A profile aid for scripts/bench/registry.ts, not product code: the registry and the cache serve
 * file slices with sendfile and a read-ahead warmer, src/blobs/backend/warm.ts, which keeps the
 * Content-Length a streamed body loses under Bun.serve.)
 *
 * A byte range of a file as a stream that reads ahead: up to `depth` positional reads of `chunk`
 * bytes are in flight at once (the thread pool runs them in parallel), so a file that is not in the
 * page cache streams at the disk's speed instead of one read's latency at a time. Memory per
 * stream is at most chunk x depth.
 *
 * The file is opened on the first pull (a HEAD response, never read, opens nothing); the caller
 * checks it exists first. Once open, a file removed while it is being read is still read whole.
 */
import { open, type FileHandle } from "node:fs/promises";

export interface ReadAhead {
  /** Bytes per read. */
  chunk: number;
  /** Reads in flight. */
  depth: number;
}

export const DEFAULT_READ_AHEAD: ReadAhead = { chunk: 2 * 1024 * 1024, depth: 4 };

/** Bytes [start, end] (inclusive) of `path`. */
export function fileStream(path: string, start: number, end: number, ra: ReadAhead = DEFAULT_READ_AHEAD): ReadableStream<Uint8Array> {
  let fh: FileHandle | undefined;
  const stop = end + 1;
  let next = start;
  let closed = false;
  const queue: Promise<Uint8Array>[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    // Reads still in flight finish on the open handle first; closing under them would fail them.
    void Promise.allSettled(queue).then(() => fh?.close().catch(() => undefined));
  };
  const issue = () => {
    while (!closed && queue.length < ra.depth && next < stop) {
      const at = next;
      const n = Math.min(ra.chunk, stop - at);
      next += n;
      queue.push(readExactly(fh!, at, n));
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!fh) {
        try {
          fh = await open(path, "r");
        } catch (e) {
          closed = true;
          return controller.error(e);
        }
        issue();
      }
      const p = queue.shift();
      if (!p) {
        close();
        return controller.close();
      }
      try {
        const bytes = await p;
        issue();
        controller.enqueue(bytes);
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel: close,
  }, { highWaterMark: 0 });
}

async function readExactly(fh: FileHandle, at: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  for (let done = 0; done < n; ) {
    const { bytesRead } = await fh.read(buf, done, n - done, at + done);
    if (bytesRead === 0) throw new Error(`the file ends ${n - done} bytes short of the range`);
    done += bytesRead;
  }
  return buf;
}
