/** RFC 9110 single byte ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`). Pure. */
export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export type RangeAnswer = { kind: "whole" } | { kind: "range"; range: ByteRange } | { kind: "unsatisfiable" };

/**
 * What to send for a `Range` header on a resource of `size` bytes. A header this parser does not
 * understand (another unit, several ranges, junk) is ignored and the whole body is sent, as RFC 9110
 * allows; a well-formed range that lies past the end is unsatisfiable (416).
 */
export function parseRange(header: string | null, size: number): RangeAnswer {
  if (!header) return { kind: "whole" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "whole" };
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", range: { start: Math.max(0, size - n), end: size - 1 } };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return { kind: "unsatisfiable" };
  return { kind: "range", range: { start, end } };
}
