/**
 * Secret masking on the output stream (agent/logs/mask.ts, agent/logs/capture.ts), property-style:
 * seeded random texts and split points; every case is checked against the secret and each of its
 * encodings never surfacing in what is emitted or spooled.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StreamMasker, patternsOf } from "../../agent/logs/mask.ts";
import { LineCapture, MAX_LINE } from "../../agent/logs/capture.ts";
import { AgentStore } from "../../agent/store.ts";

/** A small seeded PRNG (mulberry32): failures reproduce. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789 .,:-_=";
const words = (r: () => number, n: number) => Array.from({ length: n }, () => ALPHA[Math.floor(r() * ALPHA.length)]).join("");

/** Cut `text` at random points into 1..8 chunks. */
function chunks(r: () => number, text: string): string[] {
  const cuts = [...new Set(Array.from({ length: 1 + Math.floor(r() * 7) }, () => Math.floor(r() * (text.length + 1))))].sort((a, b) => a - b);
  const out: string[] = [];
  let at = 0;
  for (const c of [...cuts, text.length]) {
    out.push(text.slice(at, c));
    at = c;
  }
  return out;
}

function maskAll(secrets: string[], parts: string[]): string {
  const m = new StreamMasker(secrets);
  return parts.map((p) => m.write(p)).join("") + m.end();
}

const SECRET = "hunter2-Very$ecret/value+plus";
const encodings = (s: string) => {
  const b = Buffer.from(s);
  return {
    base64: [0, 1, 2].map((skip) => {
      // the secret inside a longer base64 text at each alignment
      const framed = Buffer.concat([Buffer.from("xyz".slice(0, (3 - skip) % 3)), b, Buffer.from("tail")]);
      return framed.toString("base64");
    }),
    url: encodeURIComponent(s),
    hex: b.toString("hex"),
    HEX: b.toString("hex").toUpperCase(),
  };
};

describe("StreamMasker", () => {
  test("a secret split at every point across two writes is masked", () => {
    const text = `before ${SECRET} after`;
    for (let i = 0; i <= text.length; i++) {
      const out = maskAll([SECRET], [text.slice(0, i), text.slice(i)]);
      expect(out).toBe("before *** after");
    }
  });

  test("random texts, random split points, several secrets: no secret survives, other text does", () => {
    const r = rng(42);
    const secrets = [SECRET, "s3cr3t-token-xyz", "another:one"];
    for (let run = 0; run < 300; run++) {
      const pieces: string[] = [];
      for (let k = 0; k < 6; k++) pieces.push(words(r, Math.floor(r() * 40)), r() < 0.5 ? secrets[Math.floor(r() * secrets.length)]! : "");
      const text = pieces.join("");
      const out = maskAll(secrets, chunks(r, text));
      for (const s of secrets) expect(out).not.toContain(s);
      // Splitting never changes the result: the same as masking the whole text in one write.
      expect(out).toBe(maskAll(secrets, [text]));
      if (!secrets.some((s) => text.includes(s))) expect(out).toBe(text);
    }
  });

  test("each encoding is masked, in every alignment, split anywhere", () => {
    const r = rng(7);
    const e = encodings(SECRET);
    for (const enc of [...e.base64, e.url, e.hex, e.HEX]) {
      for (let run = 0; run < 40; run++) {
        const out = maskAll([SECRET], chunks(r, `data: ${enc} end`));
        expect(out).toContain("***");
        for (const p of patternsOf(SECRET)) expect(out).not.toContain(p);
      }
    }
  });

  test("a multi-line secret: every line of it is masked, wherever it appears", () => {
    const key = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n-----END KEY-----";
    const out = maskAll([key], chunks(rng(3), `cat key:\n${key}\nand a line alone: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n`));
    expect(out).toBe("cat key:\n***\n***\n***\nand a line alone: ***\n");
    // The whole secret base64-encoded: masked up to the last character or two, which also depend on what follows it.
    expect(maskAll([key], [Buffer.from(key).toString("base64")])).toMatch(/^\*\*\*.{0,3}$/);
  });

  test("bounded memory: at most the longest pattern minus one is held back, and only a possible start", () => {
    const m = new StreamMasker([SECRET]);
    const r = rng(9);
    for (let i = 0; i < 2000; i++) {
      m.write(words(r, 50) + SECRET.slice(0, Math.floor(r() * SECRET.length)));
      expect(m.holding).toBeLessThan(m.maxPattern);
    }
    const fresh = new StreamMasker([SECRET]);
    expect(fresh.write("plain output with no secret start")).toBe("plain output with no secret start");
    expect(fresh.holding).toBe(0);
    expect(fresh.write("ends with hun")).toBe("ends with ");
    expect(fresh.holding).toBe(3);
  });
});

describe("LineCapture", () => {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-mask-"));
  const store = new AgentStore(dir);
  afterAll(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let seq = 0;
  const capture = (secrets: string[], write: (c: LineCapture) => void): string[] => {
    const jobId = `j-mask-${++seq}`;
    const c = new LineCapture(store, jobId, 1, secrets, () => {});
    write(c);
    c.close(0);
    const lines: string[] = [];
    for (let b = store.nextBatch(100_000); b && b.lines.length; b = store.nextBatch(100_000)) {
      lines.push(...b.lines.map((l) => l.text));
      store.ackBatch(b.lines[0]!.jobId, 1, b.lines.at(-1)!.n, true);
    }
    return lines;
  };

  test("a secret across the 16 KiB fold is masked (the fold is applied to masked text)", () => {
    for (const before of [MAX_LINE - 1, MAX_LINE - 5, MAX_LINE - SECRET.length + 1]) {
      const lines = capture([SECRET], (c) => c.write("out", "a".repeat(before) + SECRET + "b".repeat(10) + "\n"));
      expect(lines.join("")).not.toContain(SECRET);
      for (let k = 3; k < SECRET.length; k++) for (const l of lines) expect(l.endsWith(SECRET.slice(0, k)) && l.length === MAX_LINE).toBe(false);
      expect(lines.join("")).toBe("a".repeat(before) + "***" + "b".repeat(10));
    }
  });

  test("random writes and newlines: the spooled lines hold no secret or encoding", () => {
    const r = rng(11);
    const e = encodings(SECRET);
    for (let run = 0; run < 30; run++) {
      const pieces = Array.from({ length: 8 }, () => [words(r, 20), [SECRET, ...e.base64, e.url, e.hex][Math.floor(r() * 6)], r() < 0.3 ? "\n" : ""].join(""));
      const lines = capture([SECRET], (c) => chunks(r, pieces.join("")).forEach((p) => c.write("out", p)));
      for (const l of lines) for (const p of patternsOf(SECRET)) expect(l).not.toContain(p);
    }
  });

  test("live output stays live: a finished line is spooled at its newline, even after a secret's prefix", () => {
    const jobId = `j-mask-live`;
    const c = new LineCapture(store, jobId, 1, [SECRET], () => {});
    c.write("out", "progress hun");
    c.write("out", "\n");
    c.flush();
    const b = store.nextBatch(10)!;
    expect(b.lines.map((l) => l.text)).toEqual(["progress hun"]);
    c.close(0);
  });
});
