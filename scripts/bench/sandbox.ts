/**
 * Sandbox start benchmark: submit → the job's first instruction executing in its bubblewrap sandbox,
 * through the whole pipeline (HTTP, NATS, lease, agent, bwrap), beside the cost of a bare
 * `bwrap ... true` measured in the same run.
 *
 *   bun run scripts/bench/sandbox.ts [--runs 30]
 */
import { parseArgs } from "node:util";
import { bwrapArgv } from "../../agent/drivers/sandbox/args.ts";
import { spawnSandbox } from "../../agent/drivers/sandbox/env-fd.ts";
import { benchStack, percentile, printTable } from "./lib.ts";
import { mkdirSync, chownSync, rmSync } from "node:fs";

const { values } = parseArgs({ options: { runs: { type: "string", default: "30" } } });
const RUNS = Number(values.runs);
const stack = await benchStack({ agents: 1 });
const headers = { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" };

async function waitAgent() {
  for (;;) {
    const r = (await (await fetch(`${stack.controlUrl}/api/agents`, { headers })).json()) as { agents: unknown[] };
    if (r.agents.length) return;
    await Bun.sleep(20);
  }
}
await waitAgent();

const toExec: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const submitted = Date.now() * 1e6; // ns, same clock as the job's `date +%s%N`
  const r = await fetch(`${stack.controlUrl}/api/jobs`, { method: "POST", headers, body: JSON.stringify({ command: ["date", "+%s%N"] }) });
  const { job } = (await r.json()) as { job: { id: string } };
  for (;;) {
    const l = (await (await fetch(`${stack.logsUrl}/v1/jobs/${job.id}/logs`, { headers })).json()) as { lines: { text: string }[]; ended: boolean };
    if (l.ended) {
      toExec.push((Number(l.lines[0]!.text) - submitted) / 1e6);
      break;
    }
    await Bun.sleep(10);
  }
}

const dir = `/tmp/nimbus-bench-bwrap-${process.pid}`;
mkdirSync(dir, { recursive: true });
chownSync(dir, 65534, 65534);
const bare: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const p = spawnSandbox(bwrapArgv({ name: "nimbus-bench", owner: "bench", workspace: dir, uid: 65534, command: ["/bin/true"] }), {}, dir, "ignore", "ignore");
  await p.exited;
  bare.push(performance.now() - t0);
}
rmSync(dir, { recursive: true, force: true });
await stack.cleanup();

printTable(`Sandbox start (${RUNS} runs, bubblewrap driver, ${navigator.hardwareConcurrency} CPUs)`, [
  { measure: "submit → job process exec, p50 (ms)", value: percentile(toExec, 50), target: "≤ 50" },
  { measure: "submit → job process exec, p90 (ms)", value: percentile(toExec, 90), target: "" },
  { measure: "bare setpriv + bwrap /bin/true, p50 (ms)", value: percentile(bare, 50), target: "reference (~10)" },
]);
