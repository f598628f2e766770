/**
 * Input becomes part of a NATS KV key or subject only through `keyToken`: nats-server drops a
 * connection whose control line (subject + headers length) passes its limit, so one long or odd
 * name from a request must never reach a key as is. A part that is short and plain
 * (`[A-Za-z0-9_-]`, at most KEY_TOKEN_MAX characters) is kept (existing keys stay readable);
 * anything else becomes a readable prefix, "=" and a hash of the whole part. "=" never occurs in
 * a kept part, so a hashed token cannot collide with a plain one. The result is always one
 * subject token (no "." "*" ">"), so it cannot add levels or wildcards.
 */
import { createHash } from "node:crypto";

export const KEY_TOKEN_MAX = 64;
const PLAIN = /^[A-Za-z0-9_-]+$/;

/** A bounded, safe key/subject token for `part` (at most KEY_TOKEN_MAX characters). */
export function keyToken(part: string | number): string {
  const s = String(part);
  if (s.length > 0 && s.length <= KEY_TOKEN_MAX && PLAIN.test(s)) return s;
  const digest = createHash("sha256").update(s).digest("base64url").slice(0, 27).replace(/[^A-Za-z0-9_-]/g, "_");
  const prefix = s.slice(0, 32).replace(/[^A-Za-z0-9_-]/g, "_");
  return `${prefix}=${digest}`;
}

/** A key of several input parts, each bounded: `keyOf("runner", name)` → `runner.<token>`. */
export function keyOf(...parts: (string | number)[]): string {
  return parts.map(keyToken).join(".");
}
