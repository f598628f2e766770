/**
 * Pipeline benchmark: trivial jobs submitted over HTTP, leased and completed by one agent with the
 * no-work executor (NIMBUS_AGENT_DRIVERS=noop), on one NATS node; beside the raw NATS KV
 * compare-and-set rate measured in the same run, and the CPU each process spent per job at full load
 * (user + system, from /proc: what the machine's cores pay for a job, less sensitive to other load
 * on a shared machine than the latencies are).
 *
 *   bun run scripts/bench/pipeline.ts [--jobs 10000] [--rate 200] [--seconds 10] [--cpu-prof DIR]
 *
 * --cpu-prof: every Bun service writes its CPU profile (markdown, hot functions first) into DIR when the run ends.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology } from "../../src/nats/topology.ts";
import { Kvm } from "@nats-io/kv";
import { JobIndex } from "../../src/jobs/job-index.ts";
import { TERMINAL, type JobRecord } from "../../src/jobs/record.ts";
import { benchStack, percentile, printTable } from "./lib.ts";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "10000" }, rate: { type: "string", default: "200" }, seconds: { type: "string", default: "10" }, "cpu-prof": { type: "string" } } });
const JOBS = Number(values.jobs);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);

// The default org's submission window (1,000 per minute) would answer most of the load 429: lift it.
const stack = await benchStack({ agents: 1, agentEnv: { NIMBUS_AGENT_DRIVERS: "noop", NIMBUS_AGENT_SLOTS: "64" }, controlEnv: { NIMBUS_ORG_SUBMISSIONS_PER_WINDOW: "10000000" }, cpuProfileDir: values["cpu-prof"] });
const nc = await connectNats({ url: stack.natsUrl, ...stack.natsAuth, name: "bench" });
const topo = await ensureTopology(nc);
const index = await JobIndex.start(topo.jobs);
const headers = { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" };
const body = JSON.stringify({ command: ["true"] });

/** CPU time (user + system) of a process so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}
const pids: Record<string, number> = { bench: process.pid, ...Object.fromEntries([...stack.children].map(([name, c]) => [name, c.proc.pid])) };
const cpuSnapshot = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));

/** Messages each named NATS connection has sent and received so far (nats-server's connz), summed by name. */
async function natsMsgs(): Promise<Record<string, number>> {
  const connz = (await (await fetch(`${stack.natsMonitorUrl}/connz?limit=1024`)).json()) as { connections: { name?: string; in_msgs: number; out_msgs: number }[] };
  const by: Record<string, number> = {};
  for (const c of connz.connections) {
    const name = (c.name ?? "?").replace(/-[0-9a-f]{6}$/, ""); // an agent's connection name ends in its process's random id
    by[name] = (by[name] ?? 0) + c.in_msgs + c.out_msgs;
  }
  return by;
}

async function submit(): Promise<{ id: string; at: number }> {
  const at = Date.now();
  const r = await fetch(`${stack.controlUrl}/api/jobs`, { method: "POST", headers, body });
  if (r.status !== 201) throw new Error(`submit: ${r.status} ${await r.text()}`);
  return { id: ((await r.json()) as { job: JobRecord }).job.id, at };
}

async function waitAll(ids: string[]): Promise<JobRecord[]> {
  for (;;) {
    const jobs = ids.map((id) => index.get(id));
    if (jobs.every((j) => j && TERMINAL.has(j.state))) return jobs as JobRecord[];
    await Bun.sleep(20);
  }
}

function latencies(jobs: JobRecord[]) {
  const leased = jobs.map((j) => j.times.leased! - j.times.queued!);
  const done = jobs.map((j) => j.times.succeeded! - j.times.queued!);
  return { leased, done };
}

async function throughput() {
  const cpu0 = cpuSnapshot();
  const msgs0 = await natsMsgs();
  const t0 = performance.now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < JOBS) {
        next++;
        ids.push((await submit()).id);
      }
    }),
  );
  const submitted = performance.now() - t0;
  const jobs = await waitAll(ids);
  const elapsed = performance.now() - t0;
  const cpu1 = cpuSnapshot();
  const msgs1 = await natsMsgs();
  const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, (cpu1[k]! - cpu0[k]!) / jobs.length]));
  const msgs = Object.fromEntries(Object.keys(msgs1).map((k) => [k, (msgs1[k]! - (msgs0[k] ?? 0)) / jobs.length]));
  const { leased, done } = latencies(jobs);
  return { jobs: jobs.length, ok: jobs.filter((j) => j.state === "succeeded").length, submitted, elapsed, leased, done, cpu, msgs };
}

async function atRate() {
  const ids: Promise<{ id: string }>[] = [];
  const total = RATE * SECONDS;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    ids.push(submit());
  }
  const jobs = await waitAll((await Promise.all(ids)).map((x) => x.id));
  return latencies(jobs);
}

async function rawCas() {
  const kv = await new Kvm(topo.js).create("bench_cas", { history: 1 });
  const value = new Uint8Array(128);
  let rev = await kv.put("bench-cas", value);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) {
    rev = await kv.update("bench-cas", value, rev);
    n++;
  }
  const sequential = n / ((performance.now() - t0) / 1000);
  let m = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async (_, k) => {
      let r = await kv.put(`bench-cas-${k}`, value);
      while (performance.now() - t1 < 2000) {
        r = await kv.update(`bench-cas-${k}`, value, r);
        m++;
      }
    }),
  );
  const parallel = m / ((performance.now() - t1) / 1000);
  await kv.destroy();
  return { sequential, parallel };
}

const cas = await rawCas();
const tp = await throughput();
const lat = await atRate();
printTable(`Pipeline: ${JOBS} jobs over HTTP, 1 NATS node, 1 agent (noop executor, 64 slots), ${navigator.hardwareConcurrency} CPUs`, [
  { measure: "jobs completed / submitted", value: `${tp.ok} / ${tp.jobs}`, target: "all" },
  { measure: "throughput, submit → completed (jobs/s)", value: (tp.jobs / (tp.elapsed / 1000)).toFixed(0), target: "≥ 500" },
  { measure: "submit rate alone (jobs/s)", value: (tp.jobs / (tp.submitted / 1000)).toFixed(0), target: "" },
  { measure: "at full load: p50 / p99 submit → leased (ms)", value: `${percentile(tp.leased, 50)} / ${percentile(tp.leased, 99)}`, target: "" },
  { measure: `at ${RATE}/s: p50 / p99 submit → leased (ms)`, value: `${percentile(lat.leased, 50)} / ${percentile(lat.leased, 99)}`, target: "p99 ≤ 25" },
  { measure: `at ${RATE}/s: p50 / p99 submit → completed (ms)`, value: `${percentile(lat.done, 50)} / ${percentile(lat.done, 99)}`, target: "" },
  ...["control", "agent-1", "nats", "logs", "bench"].map((k) => ({ measure: `CPU per job at full load, ${k} (ms)`, value: tp.cpu[k]!.toFixed(3), target: "" })),
  { measure: "CPU per job at full load, every process (ms)", value: Object.values(tp.cpu).reduce((a, b) => a + b, 0).toFixed(3), target: "" },
  ...Object.entries(tp.msgs).filter(([k, n]) => k !== "bench" && n > 0).sort().map(([k, n]) => ({ measure: `NATS messages per job at full load, ${k} (in + out)`, value: n.toFixed(1), target: "" })),
  { measure: "raw NATS KV CAS, one at a time (ops/s)", value: cas.sequential.toFixed(0), target: "reference" },
  { measure: "raw NATS KV CAS, 64 keys in parallel (ops/s)", value: cas.parallel.toFixed(0), target: "reference" },
]);
index.stop();
await nc.close();
await stack.cleanup();
