/**
 * An entry as the shared index (NATS KV) holds it: its key, named after the entry's identity, and
 * its value, JSON. The entry's id is the revision that created the key; the create itself does not
 * know it yet and writes 0, every later write carries it.
 */
import { createHash } from "node:crypto";
import type { CacheEntry, EntryState, Protocol, Segment } from "../model.ts";
import type { SharedFields } from "../index-db.ts";

/** `<org>.<digest>`: org ids are key-safe (ORG_ID_PATTERN); the rest may hold any character, so it is hashed. */
export function entryKey(e: Pick<CacheEntry, "org" | "repo" | "scope" | "key" | "version">): string {
  const digest = createHash("sha256").update(`${e.repo}\0${e.scope}\0${e.key}\0${e.version}`).digest("hex").slice(0, 48);
  return `${e.org}.${digest}`;
}

const STATES: readonly EntryState[] = ["uploading", "ready", "deleting"];
const PROTOCOLS: readonly Protocol[] = ["v1", "v2"];

export function encodeEntry(e: SharedFields): Uint8Array {
  const { id, repo, org, scope, key, version, state, protocol, declaredSize, size, createdAt, committedAt, lastUsedAt, segments, home, shared } = e;
  return new TextEncoder().encode(JSON.stringify({ id, repo, org, scope, key, version, state, protocol, declaredSize, size, createdAt, committedAt, lastUsedAt, segments, home, shared }));
}

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isStr = (x: unknown): x is string => typeof x === "string";

/** The entry a KV value at `revision` holds; null for a value no cache replica wrote (it is left out, never trusted). */
export function decodeEntry(value: Uint8Array, revision: number): SharedFields | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(value)) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!o || typeof o !== "object") return null;
  const ok = isNum(o.id) && [o.repo, o.org, o.scope, o.key, o.version, o.home].every(isStr) && STATES.includes(o.state as EntryState) && PROTOCOLS.includes(o.protocol as Protocol)
    && (o.declaredSize === null || isNum(o.declaredSize)) && isNum(o.size) && isNum(o.createdAt) && (o.committedAt === null || isNum(o.committedAt)) && isNum(o.lastUsedAt)
    && Array.isArray(o.segments) && (o.segments as unknown[]).every((s) => !!s && typeof s === "object" && isStr((s as Segment).object) && isNum((s as Segment).size)) && typeof o.shared === "boolean";
  if (!ok) return null;
  const e = o as unknown as SharedFields;
  return { ...e, id: e.id || revision };
}
