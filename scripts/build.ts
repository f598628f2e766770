/**
 * `npm run build`: the single-file binaries, under artifacts/bin (or --out DIR):
 *   nimbus        the CLI, and `nimbus service control|logs|cache|registry`, with the dashboard inside
 *   nimbus-agent  the host agent
 * Each carries Bun itself: a host needs the file and the system packages `nimbus doctor` lists.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dir, "..");

export interface BuiltBinaries {
  nimbus: string;
  agent: string;
}

async function run(argv: string[]): Promise<void> {
  const p = Bun.spawn(argv, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} … failed (exit ${code}):\n${out}${err}`);
}

export async function buildBinaries(outDir = join(ROOT, "artifacts/bin")): Promise<BuiltBinaries> {
  mkdirSync(outDir, { recursive: true });
  const bun = process.execPath;
  await run([bun, "run", "web/build.ts", "--quiet"]);
  const out = { nimbus: join(outDir, "nimbus"), agent: join(outDir, "nimbus-agent") };
  // Two compiles at once: each is mostly one core's work.
  await Promise.all([
    run([bun, "build", "--compile", "--sourcemap", "src/bin/nimbus.ts", "--asset", "web/dist", "--outfile", out.nimbus]),
    run([bun, "build", "--compile", "--sourcemap", "agent/main.ts", "--outfile", out.agent]),
  ]);
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Bun.argv.slice(2), options: { out: { type: "string" }, help: { type: "boolean" } } });
  if (values.help) {
    console.log("Usage: bun run scripts/build.ts [--out DIR]   (npm run build)\nWrites the nimbus and nimbus-agent binaries to artifacts/bin, or DIR.");
    process.exit(0);
  }
  const t0 = performance.now();
  const b = await buildBinaries(values.out ? resolve(values.out) : undefined);
  console.log(`built ${b.nimbus} and ${b.agent} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
