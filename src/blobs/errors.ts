/** Errors of the blob store, with codes callers branch on (never on message text). */
export type BlobErrorCode =
  /** The bytes written do not hash to the digest the writer promised. Nothing was stored. */
  | "digest_mismatch"
  /** A write went past the byte limit it was given. What it had added is gone. */
  | "too_large"
  /** A write did not carry the number of bytes it declared (a cut connection, a short chunk). */
  | "short_write"
  /** No temp file (upload) of that id. */
  | "unknown_temp"
  /** An id that cannot name a temp file. */
  | "bad_id";

export class BlobError extends Error {
  constructor(
    readonly code: BlobErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "BlobError";
  }
}

export function isBlobError(e: unknown, code?: BlobErrorCode): e is BlobError {
  return e instanceof BlobError && (code === undefined || e.code === code);
}
