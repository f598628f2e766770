/**
 * Secret masking over an output stream (not line by line): a secret split across writes, lines or
 * the long-line fold is still masked. Masked are each secret, each line of a multi-line secret
 * (as GitHub's runner does) and their common encodings: base64 in all three alignments, URL
 * encoding, hex (lower and upper case). Streaming with bounded memory: at most the longest pattern
 * minus one character is held back, and only while the tail could still be the start of one.
 */

/** Patterns shorter than this are not masked (they would mask half the output). */
const MIN_PATTERN = 3;

/** The base64 characters fully determined by `bytes`, whatever surrounds them in the encoded stream. */
function stableBase64(bytes: Buffer): string {
  const b64 = bytes.toString("base64").replace(/=+$/, "");
  return bytes.length % 3 === 0 ? b64 : b64.slice(0, -1);
}

/** What to mask for one secret value. */
export function patternsOf(secret: string): string[] {
  const lines = secret.split(/\r?\n/).filter((l) => l.length >= MIN_PATTERN);
  const out = new Set<string>();
  for (const value of lines.length > 1 ? [secret, ...lines] : lines) {
    const bytes = Buffer.from(value, "utf8");
    out.add(value);
    // The secret inside a longer base64 text starts at byte 0, 1 or 2 of a 3-byte group: skip the
    // bytes that share a group with what precedes it, keep the characters only it determines.
    for (const skip of [0, 1, 2]) if (bytes.length - skip >= 3) out.add(stableBase64(bytes.subarray(skip)));
    out.add(encodeURIComponent(value));
    out.add(bytes.toString("hex"));
    out.add(bytes.toString("hex").toUpperCase());
  }
  // A multi-line secret's text is masked line by line (the lines keep their numbers); its encodings
  // (which hold no line break) are masked whole as well.
  return [...out].filter((p) => p.length >= MIN_PATTERN && !/[\r\n]/.test(p));
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export class StreamMasker {
  private readonly patterns: string[];
  private readonly re: RegExp | null;
  private readonly firstChars: Set<string>;
  private held = "";

  constructor(secrets: string[], private readonly replacement = "***") {
    this.patterns = [...new Set(secrets.flatMap(patternsOf))].sort((a, b) => b.length - a.length);
    this.re = this.patterns.length ? new RegExp(this.patterns.map(escape).join("|"), "g") : null;
    this.firstChars = new Set(this.patterns.map((p) => p[0]!));
  }

  /** The longest pattern: held-back text is always shorter. */
  get maxPattern(): number {
    return this.patterns[0]?.length ?? 0;
  }

  /** Characters held back, waiting to see whether they start a secret. */
  get holding(): number {
    return this.held.length;
  }

  /** Feed a chunk; returns what is safe to emit now, masked. */
  write(chunk: string): string {
    return this.run(this.held + chunk, false);
  }

  /** Emit everything held back (end of stream). */
  end(): string {
    return this.run(this.held, true);
  }

  /** Where the unfinished tail starts: the first position whose rest is a proper prefix of a pattern. */
  private holdFrom(buf: string, from: number): number {
    for (let j = Math.max(from, buf.length - this.maxPattern + 1); j < buf.length; j++) {
      if (!this.firstChars.has(buf[j]!)) continue;
      const rest = buf.slice(j);
      if (this.patterns.some((p) => p.length > rest.length && p.startsWith(rest))) return j;
    }
    return buf.length;
  }

  private run(buf: string, final: boolean): string {
    if (!this.re) {
      this.held = "";
      return buf;
    }
    let hold = final ? buf.length : this.holdFrom(buf, 0);
    let out = "";
    let at = 0;
    this.re.lastIndex = 0;
    for (let m = this.re.exec(buf); m && m.index < hold; m = this.re.exec(buf)) {
      const end = m.index + m[0].length;
      out += buf.slice(at, m.index) + this.replacement;
      at = end;
      // A whole match that runs into the tail settles it: hold only what may start a secret after it.
      if (end > hold) hold = final ? buf.length : this.holdFrom(buf, end);
    }
    out += buf.slice(at, Math.max(at, hold));
    this.held = buf.slice(Math.max(at, hold));
    return out;
  }
}
