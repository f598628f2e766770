/** Compile the act_runner stand-in into a self-contained executable `<dir>/act_runner` (mounted at /forge-runner in sandboxes). */
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export async function buildForgeRunnerStandIn(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const out = join(dir, "act_runner");
  const src = resolve(import.meta.dir, "runner.ts");
  if (existsSync(out) && statSync(out).mtimeMs > statSync(src).mtimeMs) return out;
  const p = Bun.spawn([process.execPath, "build", "--compile", src, "--outfile", out], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`cannot build the act_runner stand-in: ${await new Response(p.stderr).text()}`);
  chmodSync(out, 0o755);
  return out;
}
