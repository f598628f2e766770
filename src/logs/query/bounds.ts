/** The time bounds, page cursor and bucket size of a log search, read from query parameters. */
import { AppError } from "../../core/errors.ts";
import type { SearchCursor } from "../store.ts";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const bad = (field: string, message: string) => new AppError("validation_failed", `${field}: ${message}`, { field });

/** `24h` / `30m` / `7d` (that long before now), an ISO 8601 time, or ms since epoch. */
export function timeBound(field: string, text: string | undefined, now: number, dflt: number): number {
  if (text === undefined || text === "") return dflt;
  const rel = /^(\d{1,6})([smhdw])$/.exec(text);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS];
  if (/^\d{10,16}$/.test(text)) return Number(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && text.length <= 40) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return t;
  }
  throw bad(field, `"${text.slice(0, 40)}" is not a time: use a duration before now (30m, 24h, 7d), an ISO 8601 time or ms since epoch`);
}

export function encodeCursor(c: SearchCursor): string {
  return Buffer.from(JSON.stringify([c.ts, c.jobId, c.attempt, c.n])).toString("base64url");
}

export function decodeCursor(text: string | undefined): SearchCursor | undefined {
  if (text === undefined || text === "") return undefined;
  try {
    if (text.length > 300) throw new Error("too long");
    const v = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 4 && Number.isSafeInteger(v[0]) && typeof v[1] === "string" && v[1].length <= 64 && Number.isSafeInteger(v[2]) && Number.isSafeInteger(v[3]))
      return { ts: v[0], jobId: v[1], attempt: v[2], n: v[3] };
  } catch {}
  throw bad("cursor", "is not a cursor this search returned");
}

/** A bucket size (ms) giving about `buckets` buckets over the range, rounded to a whole second or more. */
export function bucketFor(since: number, until: number, buckets: number): number {
  const raw = Math.max(1000, Math.ceil((until - since) / buckets));
  const steps = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400].map((s) => s * 1000);
  return steps.find((s) => s >= raw) ?? Math.ceil(raw / 86_400_000) * 86_400_000;
}
