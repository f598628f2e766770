/**
 * Read-ahead for sendfile: while Bun sends a file slice with sendfile (zero copy, with its
 * Content-Length), a background reader pulls the same range into the page cache with up to `depth`
 * positional reads of `chunk` bytes in flight (the thread pool runs them in parallel), so sendfile
 * finds the pages there instead of waiting on one disk read at a time. The bytes read are thrown
 * away (one scratch buffer per read in flight). One warm-up per file at a time: concurrent
 * downloads of one layer share it. A failure only means no read-ahead; sendfile reports real errors.
 */
import { open } from "node:fs/promises";

export interface ReadAhead {
  /** Bytes per read. */
  chunk: number;
  /** Reads in flight. */
  depth: number;
}

export const DEFAULT_READ_AHEAD: ReadAhead = { chunk: 2 * 1024 * 1024, depth: 4 };

const running = new Map<string, Promise<void>>();

/** Start reading bytes [start, end] of `path` into the page cache; resolves when done (callers need not wait). */
export function warm(path: string, start: number, end: number, ra: ReadAhead = DEFAULT_READ_AHEAD): Promise<void> {
  const busy = running.get(path);
  if (busy) return busy;
  const p = readThrough(path, start, end + 1, ra)
    .catch(() => undefined)
    .finally(() => running.delete(path));
  running.set(path, p);
  return p;
}

async function readThrough(path: string, start: number, stop: number, ra: ReadAhead): Promise<void> {
  const fh = await open(path, "r");
  let next = start;
  try {
    await Promise.all(Array.from({ length: ra.depth }, async () => {
      const buf = new Uint8Array(ra.chunk);
      while (next < stop) {
        const at = next;
        next += ra.chunk;
        const { bytesRead } = await fh.read(buf, 0, Math.min(ra.chunk, stop - at), at);
        if (bytesRead === 0) return;
      }
    }));
  } finally {
    await fh.close();
  }
}
