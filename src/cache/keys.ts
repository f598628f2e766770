/**
 * Validation of everything a client names: cache keys, versions, repositories, refs, ids and
 * block ids. Keys never reach a file path (storage keys are derived from numeric ids), but a key
 * that looks like a path traversal is refused anyway, so it cannot surprise a tool downstream.
 */
import { AppError } from "../core/errors.ts";
import { checkRef, checkRepo, PATH_TRAVERSAL } from "../protocol/cache-token.ts";

/** Repository and ref checks are the runtime token's (src/protocol/cache-token.ts). */
export { checkRef, checkRepo };

export const MAX_KEY_LENGTH = 512;
export const MAX_RESTORE_KEYS = 10;

const CONTROL = /[\u0000-\u001f\u007f]/;

function bad(field: string, message: string): AppError {
  return new AppError("validation_failed", `${field}: ${message}`, { field });
}

export function checkKey(key: unknown, field = "key"): string {
  if (typeof key !== "string" || key.length === 0) throw bad(field, "must be a non-empty string");
  if (key.length > MAX_KEY_LENGTH) throw bad(field, `must be at most ${MAX_KEY_LENGTH} characters`);
  if (key.includes(",")) throw bad(field, "must not contain a comma");
  if (CONTROL.test(key)) throw bad(field, "must not contain control characters");
  if (PATH_TRAVERSAL.test(key) || key.startsWith("/")) throw bad(field, "must not look like a path traversal");
  return key;
}

export function checkVersion(version: unknown): string {
  if (typeof version !== "string" || !/^[A-Za-z0-9._:+=-]{1,512}$/.test(version))
    throw bad("version", "must be 1-512 characters of letters, digits and ._:+=-");
  return version;
}

/** Primary key plus restore keys, as the v1 lookup sends them (comma-joined). */
export function checkKeyList(keys: string[]): string[] {
  if (keys.length === 0) throw bad("keys", "at least one key is required");
  if (keys.length > MAX_RESTORE_KEYS) throw bad("keys", `at most ${MAX_RESTORE_KEYS} keys`);
  return keys.map((k, i) => checkKey(k, i === 0 ? "key" : "restore_keys"));
}

/** Numeric ids in URLs (v1 cacheId, blob ids). */
export function parseId(raw: string | undefined, field = "id"): number {
  if (!raw || !/^[1-9][0-9]{0,15}$/.test(raw)) throw bad(field, "must be a positive integer");
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw bad(field, "is too large");
  return n;
}

/** Azure block ids: base64 of at most 64 bytes; all ids of one blob have the same length. */
export function checkBlockId(raw: string | null): string {
  if (!raw || raw.length > 88 || !/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || raw.length % 4 !== 0)
    throw new AppError("bad_request", "blockid: must be base64 of at most 64 bytes", { field: "blockid" });
  return raw;
}

/** A block id as a storage-safe part name (hex of its bytes). */
export function blockPartName(blockId: string): string {
  return "b" + Buffer.from(blockId, "base64").toString("hex");
}
