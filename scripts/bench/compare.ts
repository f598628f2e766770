/**
 * Runs one benchmark script of two checkouts in turn — reference, candidate, candidate, reference, … (so a
 * drift of the shared machine's speed falls on both) — and prints one table: each figure's median over the
 * runs for the reference and the candidate, and the ratio candidate / reference.
 *
 *   bun run scripts/bench/compare.ts REF_DIR [--bench webhooks|pipeline] [--pairs 3] [-- ARGS for the script]
 *
 * REF_DIR is another checkout (e.g. a `git worktree add --detach` of the commit to compare with); the
 * candidate is this checkout. Figures are read from the scripts' markdown tables (every number of every
 * cell but "target") and the webhook script's "CPU per webhook" lines. Each run's output is kept in
 * a temporary directory, named at the end.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

/** Figures of one run's output, by name. */
export function figures(text: string): Map<string, number> {
  const found = new Map<string, number>();
  let header: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const cpu = /^(sustained|open loop): (.*)$/.exec(line);
    if (cpu) {
      for (const m of cpu[2]!.matchAll(/([a-z -]+?) ([\d.]+) ms \(/g)) found.set(`CPU per webhook, ${cpu[1]}: ${m[1]!.trim()} (ms)`, Number(m[2]));
      continue;
    }
    if (!line.startsWith("|") || /^\|[-| ]+\|$/.test(line)) continue;
    const cells = line.slice(1, -1).split("|").map((c) => c.trim());
    if (!header.length || cells[0] === "measure" || cells[0]!.startsWith("measure ")) {
      header = cells;
      continue;
    }
    const [measure, ...rest] = cells;
    rest.forEach((cell, i) => {
      const col = header[i + 1] ?? String(i + 1);
      if (col === "target") return;
      const nums = [...cell.matchAll(/-?\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));
      if (!nums.length || /\d+ \/ \d+$/.test(cell) && measure!.includes("completed / submitted")) return;
      const names = nums.length === 2 && measure!.includes("p50 / p99") ? ["p50", "p99"] : nums.map((_, k) => (nums.length > 1 ? `${col} ${k + 1}` : col));
      nums.forEach((n, k) => found.set(`${measure} [${names[k]}]`, n));
    });
  }
  return found;
}

if (import.meta.main) await main();

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { bench: { type: "string", default: "webhooks" }, pairs: { type: "string", default: "3" } },
  });
  const [refArg, ...scriptArgs] = positionals;
  if (!refArg) {
    console.error("usage: bun run scripts/bench/compare.ts REF_DIR [--bench webhooks|pipeline] [--pairs 3] [-- ARGS]");
    process.exit(2);
  }
  const dirs = { reference: resolve(refArg), candidate: resolve(import.meta.dir, "../..") };
  const PAIRS = Number(values.pairs);
  const out = mkdtempSync(join(tmpdir(), "nimbus-compare-"));

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };

  async function run(which: keyof typeof dirs, n: number): Promise<Map<string, number>> {
    const p = Bun.spawn([process.execPath, "run", `scripts/bench/${values.bench}.ts`, ...scriptArgs], { cwd: dirs[which], stdout: "pipe", stderr: "pipe" });
    const [text, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    writeFileSync(join(out, `${values.bench}-${n}-${which}.txt`), text + (err ? `\n--- stderr\n${err}` : ""));
    if (code !== 0) throw new Error(`${which} run ${n} exited ${code}: ${err.slice(-2000)}`);
    process.stderr.write(`run ${n} ${which} done\n`);
    return figures(text);
  }

  const runs: Record<keyof typeof dirs, Map<string, number>[]> = { reference: [], candidate: [] };
  for (let i = 0; i < PAIRS; i++) {
    const order: (keyof typeof dirs)[] = i % 2 ? ["candidate", "reference"] : ["reference", "candidate"];
    for (const which of order) runs[which].push(await run(which, i + 1));
  }

  const names = [...new Set(runs.candidate.flatMap((m) => [...m.keys()]))];
  const rows = names.map((name) => {
    const ref = runs.reference.map((m) => m.get(name)).filter((x): x is number => x !== undefined);
    const cand = runs.candidate.map((m) => m.get(name)).filter((x): x is number => x !== undefined);
    const r = ref.length ? median(ref) : NaN;
    const c = median(cand);
    return [name, ref.map(String).join(", "), cand.map(String).join(", "), fmt(r), fmt(c), (c / r).toFixed(3)];
  });
  function fmt(x: number): string {
    return Number.isNaN(x) ? "–" : Number.isInteger(x) ? String(x) : x.toFixed(2);
  }
  const head = ["figure", "reference runs", "candidate runs", "reference median", "candidate median", "candidate / reference"];
  console.log(`\n${values.bench}: ${PAIRS} pairs, alternating; reference ${dirs.reference}\n`);
  console.log("| " + head.join(" | ") + " |");
  console.log("|" + head.map(() => "---").join("|") + "|");
  for (const r of rows) console.log("| " + r.join(" | ") + " |");
  console.log(`\neach run's output: ${out}`);
}
