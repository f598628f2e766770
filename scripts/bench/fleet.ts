/**
 * Fleet benchmark: JOBS jobs queued first, then drained by AGENTS host agents (the noop driver,
 * several per process, each with its own NATS connection, consumer and SQLite), on a three-node
 * JetStream cluster with every stream and bucket at 3 replicas; and the same on one node. Beside
 * each, the raw KV compare-and-set rate of that NATS (64 keys in flight), so a job's cost in NATS
 * operations is visible: target jobs/s ≥ 1/15 of the raw CAS rate, on both.
 *
 *   bun run scripts/bench/fleet.ts [--jobs 10000] [--agents 200] [--per-process 50] [--slots 4] [--nodes 3,1]
 *
 * Double leases are counted from the job events stream: two `leased` events for one job's attempt, or
 * a job that needed a second attempt (nothing fails here, so none should).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DeliverPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connectNats } from "../../src/nats/connect.ts";
import { EVENTS_STREAM, ensureTopology } from "../../src/nats/topology.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { JobIndex } from "../../src/jobs/job-index.ts";
import { TERMINAL, type JobRecord } from "../../src/jobs/record.ts";
import type { JobEvent } from "../../src/jobs/events.ts";
import { freeBase, percentile, printTable } from "./lib.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "10000" }, agents: { type: "string", default: "200" }, "per-process": { type: "string", default: "50" },
    slots: { type: "string", default: "4" }, nodes: { type: "string", default: "3,1" },
  },
});
const JOBS = Number(values.jobs);
const AGENTS = Number(values.agents);
const PER_PROCESS = Number(values["per-process"]);
const SLOTS = values.slots!;
const ROOT = resolve(import.meta.dir, "../..");
const SECRET = "fleet-bench-secret-0123456789abcdefghijkl";
const bun = process.execPath;

interface Proc { proc: ReturnType<typeof Bun.spawn>; name: string }

function spawn(name: string, argv: string[], env: Record<string, string>, logDir: string): Proc {
  const log = Bun.file(join(logDir, `${name}.log`));
  const proc = Bun.spawn(["setsid", ...argv], { cwd: ROOT, env: { ...process.env, ...env }, stdout: log, stderr: log, stdin: "ignore" });
  return { proc, name };
}

async function until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/** NODES nats-server nodes (one: no cluster), JetStream each in its own dir; the client URLs. */
async function startNats(nodes: number, base: number, dir: string, procs: Proc[]): Promise<string[]> {
  const urls: string[] = [];
  const routes = Array.from({ length: nodes }, (_, i) => `nats://127.0.0.1:${base + 100 + i}`).join(",");
  for (let i = 0; i < nodes; i++) {
    const sd = join(dir, `n${i}`);
    mkdirSync(sd, { recursive: true });
    const cluster = nodes > 1 ? ["-n", `n${i}`, "--cluster_name", "bench", "--cluster", `nats://127.0.0.1:${base + 100 + i}`, "--routes", routes] : [];
    procs.push(spawn(`nats-${i}`, ["nats-server", "-a", "127.0.0.1", "-p", String(base + i), "-m", String(base + 50 + i), "-js", "-sd", sd, ...cluster], {}, dir));
    urls.push(`nats://127.0.0.1:${base + i}`);
  }
  for (let i = 0; i < nodes; i++) await until(() => fetch(`http://127.0.0.1:${base + 50 + i}/healthz?js-enabled-only=true`).then((r) => r.ok, () => false), 30_000, `nats node ${i}`);
  // A cluster serves streams once every node sees the meta leader and its peers.
  if (nodes > 1)
    for (let i = 0; i < nodes; i++)
      await until(async () => {
        const jsz = (await fetch(`http://127.0.0.1:${base + 50 + i}/jsz`).then((r) => r.json(), () => ({}))) as { meta_cluster?: { leader?: string; cluster_size?: number } };
        return !!jsz.meta_cluster?.leader && jsz.meta_cluster.cluster_size === nodes;
      }, 30_000, `nats node ${i} to see the cluster's meta leader`);
  return urls;
}

async function rawCas(kvm: Kvm, replicas: number): Promise<number> {
  const kv = await kvm.create("bench_cas", { history: 1, replicas });
  const value = new Uint8Array(128);
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async (_, k) => {
      let r = await kv.put(`k${k}`, value);
      while (performance.now() - t0 < 3000) {
        r = await kv.update(`k${k}`, value, r);
        n++;
      }
    }),
  );
  const rate = n / ((performance.now() - t0) / 1000);
  await kv.destroy();
  return rate;
}

/** Every job event so far, by job: how many times each attempt was leased. */
async function leasesPerAttempt(nc: Awaited<ReturnType<typeof connectNats>>): Promise<Map<string, number>> {
  const { jetstream } = await import("@nats-io/jetstream");
  const js = jetstream(nc);
  const info = await (await js.streams.get(EVENTS_STREAM)).info();
  const last = info.state.last_seq;
  const consumer = await js.consumers.get(EVENTS_STREAM, { deliver_policy: DeliverPolicy.All });
  const out = new Map<string, number>();
  if (last === 0) return out;
  for await (const m of await consumer.consume()) {
    const e = m.json<JobEvent>();
    if (e.to === "leased") out.set(`${e.jobId}#${e.attempt}`, (out.get(`${e.jobId}#${e.attempt}`) ?? 0) + 1);
    if (m.seq >= last) break;
  }
  return out;
}

async function run(nodes: number) {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-fleet-bench-"));
  const procs: Proc[] = [];
  const base = await freeBase();
  try {
    const urls = await startNats(nodes, base, dir, procs);
    const replicas = String(nodes);
    const common = { NIMBUS_NATS_URL: urls.join(","), NIMBUS_NATS_REPLICAS: replicas, NIMBUS_AUTH_SECRET: SECRET, NIMBUS_LOGS_URL: `http://127.0.0.1:${base + 11}` };
    procs.push(spawn("logs", [bun, "run", "src/logs/main.ts"], { ...common, NIMBUS_LOGS_PORT: String(base + 11), NIMBUS_LOGS_DB: join(dir, "logs.sqlite") }, dir));
    procs.push(spawn("control", [bun, "run", "src/control/main.ts"], { ...common, NIMBUS_CONTROL_PORT: String(base + 10), NIMBUS_SECRETS_KEY: randomBytes(32).toString("base64url"), NIMBUS_ORG_SUBMISSIONS_PER_WINDOW: "10000000" }, dir));
    await until(() => fetch(`http://127.0.0.1:${base + 10}/readyz`).then((r) => r.ok, () => false), 60_000, "the control plane");
    await until(() => fetch(`http://127.0.0.1:${base + 11}/healthz`).then((r) => r.ok, () => false), 60_000, "the log service");

    const nc = await connectNats({ url: urls.join(","), name: "fleet-bench" });
    const topo = await ensureTopology(nc, { replicas: nodes });
    const cas = await rawCas(new Kvm(topo.js), nodes);
    const admin = (await bootstrapToken({ secret: SECRET, ledger: new TokenLedger(topo.tokens) }, { sub: "bench", role: "operator", ttlSeconds: 3600 })).token;
    const index = await JobIndex.start(topo.jobs);

    // Queue every job first: the drain is what is measured.
    const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const body = JSON.stringify({ command: ["true"] });
    const ids: string[] = [];
    let next = 0;
    const s0 = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < JOBS) {
          next++;
          const r = await fetch(`http://127.0.0.1:${base + 10}/api/jobs`, { method: "POST", headers, body });
          if (r.status !== 201) throw new Error(`submit: ${r.status} ${await r.text()}`);
          ids.push(((await r.json()) as { job: JobRecord }).job.id);
        }
      }),
    );
    const submitMs = performance.now() - s0;

    const workers: Proc[] = [];
    for (let first = 1; first <= AGENTS; first += PER_PROCESS) {
      const count = Math.min(PER_PROCESS, AGENTS - first + 1);
      workers.push(spawn(`agents-${first}`, [bun, "run", "scripts/bench/fleet-agents.ts", "--first", String(first), "--count", String(count)], {
        ...common, FLEET_AGENT_DIR: join(dir, "agents"), NIMBUS_AGENT_DRIVERS: "noop", NIMBUS_AGENT_SLOTS: SLOTS, NIMBUS_LOG_LEVEL: "warn",
      }, dir));
    }
    procs.push(...workers);
    const d0 = performance.now();
    await until(() => ids.every((id) => TERMINAL.has(index.get(id)?.state ?? "queued")), 30 * 60_000, "every job to finish");
    const jobs = ids.map((id) => index.get(id)!);
    // From the first lease to the last end: the agents' start-up (connecting, binding, registering) is not the drain.
    const ends = jobs.map((j) => Math.max(...Object.values(j.times).filter((t): t is number => typeof t === "number")));
    const drainMs = Math.max(...ends) - Math.min(...jobs.map((j) => j.times.leased ?? Infinity));
    const startupMs = Math.min(...jobs.map((j) => j.times.leased ?? Infinity)) - (Date.now() - (performance.now() - d0));
    const states: Record<string, number> = {};
    for (const j of jobs) if (j.state !== "succeeded") { const k = `${j.state}${j.reason ? ` (${j.reason.slice(0, 200)})` : ""}`; states[k] = (states[k] ?? 0) + 1; }
    const leased = jobs.map((j) => j.times.leased! - j.times.queued!);
    const leases = await leasesPerAttempt(nc);
    const double = [...leases.values()].filter((n) => n > 1).length + jobs.filter((j) => j.attempt !== 1).length;
    index.stop();
    await nc.close();
    return {
      nodes, cas, submitRate: JOBS / (submitMs / 1000), rate: JOBS / (drainMs / 1000), ok: jobs.filter((j) => j.state === "succeeded").length,
      p50: percentile(leased, 50), p99: percentile(leased, 99), double, leasedEvents: leases.size, startupMs, states,
    };
  } catch (e) {
    // What a process said before it failed to come up, or before the run went wrong.
    for (const p of procs) console.error(`--- ${p.name}.log\n${(await Bun.file(join(dir, `${p.name}.log`)).text().catch(() => "")).split("\n").slice(-8).join("\n")}`);
    throw e;
  } finally {
    for (const p of procs.reverse()) p.proc.kill("SIGTERM");
    await Promise.race([Promise.all(procs.map((p) => p.proc.exited)), Bun.sleep(15_000)]);
    for (const p of procs) p.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const n of values.nodes!.split(",").map(Number)) results.push(await run(n));
printTable(`Fleet: ${JOBS} queued jobs drained by ${AGENTS} agents (noop driver, ${SLOTS} slots each, ${PER_PROCESS} per process), ${navigator.hardwareConcurrency} CPUs`, results.flatMap((r) => {
  const where = r.nodes === 1 ? "1 node" : `${r.nodes}-node cluster, R${r.nodes}`;
  return [
    { measure: `${where}: jobs succeeded / queued`, value: `${r.ok} / ${JOBS}${Object.keys(r.states).length ? ` (${Object.entries(r.states).map(([k, n]) => `${n} ${k}`).join(", ")})` : ""}`, target: "all" },
    { measure: `${where}: agents started → first lease (ms)`, value: r.startupMs.toFixed(0), target: "" },
    { measure: `${where}: drain rate, first lease → last end (jobs/s)`, value: r.rate.toFixed(0), target: "" },
    { measure: `${where}: raw KV CAS, 64 in flight (ops/s)`, value: r.cas.toFixed(0), target: "reference" },
    { measure: `${where}: jobs/s ÷ raw CAS/s`, value: `1/${(r.cas / r.rate).toFixed(1)}`, target: "≥ 1/15" },
    { measure: `${where}: p50 / p99 submit → leased (ms; queued first)`, value: `${r.p50} / ${r.p99}`, target: "" },
    { measure: `${where}: double leases`, value: r.double, target: "0" },
    { measure: `${where}: submit rate while queueing (jobs/s)`, value: r.submitRate.toFixed(0), target: "" },
  ];
}));
