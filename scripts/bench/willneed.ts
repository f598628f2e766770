/**
 * A profile aid of scripts/bench/registry.ts (--profile), no longer in the services: read-ahead for sendfile. Bun sends a file slice with sendfile (zero copy, with its Content-Length),
 * but on a cold page cache each sendfile call waits on the disk in the event loop's thread, one
 * kernel read-ahead window at a time. Before the slice goes out, `warm` asks the kernel to read the
 * range into the page cache asynchronously: posix_fadvise(POSIX_FADV_WILLNEED), called through
 * bun:ffi on the C library already loaded (no native module to build), in windows of 32 MiB with
 * the event loop free between them, and at most 512 MiB ahead per request, so one huge blob cannot
 * flood the disk queue. No bytes are copied: on a warm file the advice costs a page-cache lookup.
 * Where the C library cannot be opened this way (not glibc), there is no read-ahead and sendfile
 * works alone. A failure only means no read-ahead; sendfile reports real errors.
 *
 * Measured in scripts/bench/registry.ts: a read-ahead copying through user space in the thread
 * pool was slower than sendfile alone on the 2 shared cores, and so was this advice (cold GETs of a
 * 256 MiB file: slower than sendfile alone), so the filesystem store sends its slices without it.
 */
import { open } from "node:fs/promises";

const WILLNEED = 3; // POSIX_FADV_WILLNEED on Linux
const WINDOW = 32 * 1024 * 1024;
export const MAX_AHEAD = 512 * 1024 * 1024;

type Fadvise = (fd: number, offset: number, len: number, advice: number) => number;

function loadFadvise(): Fadvise | null {
  if (process.platform !== "linux") return null;
  try {
    const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const lib = dlopen("libc.so.6", { posix_fadvise: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i32], returns: FFIType.i32 } });
    return (fd, offset, len, advice) => lib.symbols.posix_fadvise(fd, offset, len, advice) as number;
  } catch {
    return null;
  }
}

const fadvise = loadFadvise();

/** Whether `warm` does anything on this machine. */
export const readAheadAvailable = fadvise !== null;

/**
 * Ask for bytes [start, end] of `path` (at most MAX_AHEAD of them) to be read into the page cache.
 * Resolves once the advice is given (the reads go on in the kernel); never rejects.
 */
export async function warm(path: string, start: number, end: number): Promise<void> {
  if (!fadvise) return;
  const stop = Math.min(end + 1, start + MAX_AHEAD);
  const fh = await open(path, "r").catch(() => null);
  if (!fh) return;
  try {
    for (let at = start; at < stop; at += WINDOW) {
      if (fadvise(fh.fd, at, Math.min(WINDOW, stop - at), WILLNEED) !== 0) return;
      if (at + WINDOW < stop) await new Promise((r) => setImmediate(r));
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}
