/**
 * Start-up benchmark: `nimbus up` from launch until every service is healthy and an agent has
 * registered (the moment it prints "Nimbus is up"), and the resident memory of each process.
 *
 *   bun run scripts/bench/startup.ts [--runs 5]
 */
import { parseArgs } from "node:util";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freeBase, percentile, printTable, rssMb } from "./lib.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const times: number[] = [];
let rss: Record<string, number[]> = {};

for (let i = 0; i < Number(values.runs); i++) {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-startup-"));
  const t0 = performance.now();
  const proc = Bun.spawn([BIN, "up", "--data-dir", dir, "--port-base", String(await freeBase())], { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("Nimbus is up")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`nimbus up exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  times.push(performance.now() - t0);
  await Bun.sleep(1000); // let each process settle before reading its memory
  const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  for (const [name, pid] of Object.entries({ supervisor: proc.pid, ...(state.services as Record<string, number>) })) (rss[name] ??= []).push(rssMb(pid));
  proc.kill("SIGINT");
  await proc.exited;
  rmSync(dir, { recursive: true, force: true });
}

printTable(`nimbus up: launch → healthy, ${times.length} runs (the first includes a cold JetStream store)`, [
  { measure: "p50 (ms)", value: Math.round(percentile(times, 50)), target: "≤ 2000" },
  { measure: "max (ms)", value: Math.round(Math.max(...times)), target: "" },
]);
printTable("Resident memory after start (MB, median of runs)", Object.entries(rss).map(([process, v]) => ({ process, rss_mb: percentile(v, 50) })));
