/**
 * Turning uploaded parts into an archive, without copying bytes: the archive is the ordered list of
 * part objects (segments). v1 parts must tile [0, size) exactly; v2 is the block list in list order,
 * or the single Put Blob body. Also maps a byte range onto segments for downloads.
 */
import { AppError } from "../core/errors.ts";
import type { Part, Segment } from "./model.ts";

function invalid(message: string): AppError {
  return new AppError("bad_request", message);
}

/** v1: chunks arrive at offsets, concurrently and out of order; at commit they must cover [0, size). */
export function assembleByOffset(parts: Part[], size: number): Segment[] {
  const sorted = [...parts].sort((a, b) => (a.start ?? 0) - (b.start ?? 0));
  let pos = 0;
  for (const p of sorted) {
    if (p.start !== pos) throw invalid(p.start! < pos ? `chunk at offset ${p.start} overlaps the previous chunk` : `no data uploaded for bytes ${pos}-${p.start! - 1}`);
    pos += p.size;
  }
  if (pos !== size) throw invalid(`committed size ${size} does not match the ${pos} bytes uploaded`);
  return mergeSegments(sorted.map((p) => ({ object: p.object, size: p.size })));
}

/** Adjacent chunks written in place into one object become one segment. */
function mergeSegments(list: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of list) {
    const last = out[out.length - 1];
    if (last && last.object === s.object) last.size += s.size;
    else out.push({ ...s });
  }
  return out;
}

/** v2: the committed block list (or the single blob) in order; total must be the finalized size. */
export function assembleByList(parts: Part[], blockList: string[] | null, size: number): Segment[] {
  const byName = new Map(parts.map((p) => [p.name, p]));
  const names = blockList ?? ["blob"];
  const segments = names.map((n) => {
    const p = byName.get(n);
    if (!p) throw invalid(blockList ? "block list names a block that was not uploaded" : "no data was uploaded");
    return { object: p.object, size: p.size };
  });
  const total = segments.reduce((s, x) => s + x.size, 0);
  if (total !== size) throw invalid(`finalized size ${size} does not match the ${total} bytes uploaded`);
  return segments;
}

/** HTTP 416; the code stays a stable `bad_request`. */
export class RangeNotSatisfiable extends AppError {
  override readonly status = 416;
  constructor(message: string, readonly size: number) {
    super("bad_request", message, { size });
  }
}

export interface Slice {
  object: string;
  start: number;
  end: number;
}

/** The pieces of segments that make up bytes [start, end] (inclusive) of the archive. */
export function sliceSegments(segments: Segment[], start: number, end: number): Slice[] {
  const out: Slice[] = [];
  let base = 0;
  for (const s of segments) {
    const segEnd = base + s.size - 1;
    if (s.size > 0 && segEnd >= start && base <= end)
      out.push({ object: s.object, start: Math.max(start, base) - base, end: Math.min(end, segEnd) - base });
    base += s.size;
  }
  return out;
}

/** Parse a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; 416 when it starts past the end. */
export function parseRange(header: string | null, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) throw new AppError("bad_request", "Range: only a single bytes=START-END range is supported");
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) throw new RangeNotSatisfiable(`range ${header} is beyond the end (${size} bytes)`, size);
  return { start, end };
}
