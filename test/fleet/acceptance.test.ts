/**
 * The fleet under failure (issue 15's acceptance), with hosts as network namespaces on one bridge:
 * - ctl: a three-node NATS cluster (every stream and bucket at 3 replicas), two control-plane replicas,
 *   the log service;
 * - h1, h2: an agent each (bubblewrap sandboxes) and a cache replica each, the agent's jobs pointed at it.
 * JOBS jobs are submitted through both replicas (each with an idempotency key, retried on the other
 * replica while one is down) while one NATS node, one control replica and one agent are each killed
 * with SIGKILL once, at different times, and restarted. Counted and asserted: 0 jobs lost, 0 jobs
 * created twice, 0 run twice at the same time (each attempt logs its start and end; no two overlap),
 * every job terminal within the lease TTL + 30 s of the last fault; and a cache entry saved through one
 * host's cache restores, byte for byte, through the other's.
 *
 * SLOW (~2 min: submissions are paced at NIMBUS_FLEET_TEST_RATE, 10/s): root, bubblewrap, nats-server. Processes run from the source tree (bun run …), as a
 * checkout-based fleet would; the binaries are the same code (test/e2e/binaries.test.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { mintRuntimeToken, scopesForRun } from "../../src/protocol/cache-token.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { waitFor } from "../support/net.ts";
import { rawClient, saveV1 } from "../cache/support/raw.ts";
import { Lan, type Host } from "./hosts.ts";

const ROOT = resolve(import.meta.dir, "../..");
const JOBS = Number(process.env.NIMBUS_FLEET_TEST_JOBS ?? 1000);
const LEASE_TTL_MS = 3000;
/** Submissions per second. */
const RATE = Number(process.env.NIMBUS_FLEET_TEST_RATE ?? 10);
const SECRET = `fleet-${randomBytes(20).toString("hex")}`;
const SECRETS_KEY = randomBytes(32).toString("base64url");
const dir = mkdtempSync(join(tmpdir(), "nimbus-fleet-"));
const lan = new Lan(join(dir, "logs"));
const bun = process.execPath;
const P = { nats: 4222, natsMonitor: 8222, route: 6222, controlA: 7070, controlB: 7080, logs: 7071, cache: 7074 };
let ctl: Host;
let h1: Host;
let h2: Host;
let adminToken: string;
const procs = new Map<string, { start: () => ReturnType<typeof Bun.spawn>; proc?: ReturnType<typeof Bun.spawn> }>();

const natsUrls = () => [0, 1, 2].map((i) => `nats://${ctl.ip}:${P.nats + i}`).join(",");
const common = () => ({ NIMBUS_NATS_URL: natsUrls(), NIMBUS_NATS_REPLICAS: "3", NIMBUS_AUTH_SECRET: SECRET, NIMBUS_LOGS_URL: `http://${ctl.ip}:${P.logs}`, NIMBUS_LEASE_TTL_MS: String(LEASE_TTL_MS), NIMBUS_SWEEP_INTERVAL_MS: "300" });

function define(name: string, host: Host, argv: () => string[], env: () => Record<string, string>) {
  procs.set(name, { start: () => lan.spawn(host, name, argv(), env(), ROOT) });
}
function start(name: string): void {
  const p = procs.get(name)!;
  p.proc = p.start();
}
async function kill9(name: string): Promise<void> {
  const p = procs.get(name)!;
  p.proc!.kill("SIGKILL");
  await p.proc!.exited;
}
const healthy = (url: string) => fetch(url).then((r) => r.ok, () => false);

beforeAll(async () => {
  [ctl, h1, h2] = (await lan.create(["ctl", "h1", "h2"])) as [Host, Host, Host];
  await lan.attachSelf();
  const routes = [0, 1, 2].map((i) => `nats://${ctl.ip}:${P.route + i}`).join(",");
  for (const i of [0, 1, 2])
    define(`nats-${i}`, ctl, () => ["nats-server", "-a", "0.0.0.0", "-p", String(P.nats + i), "-m", String(P.natsMonitor + i), "-js", "-sd", join(dir, `n${i}`), "-n", `n${i}`, "--cluster_name", "fleet", "--cluster", `nats://${ctl.ip}:${P.route + i}`, "--routes", routes], () => ({}));
  define("logs", ctl, () => [bun, "run", "src/logs/main.ts"], () => ({ ...common(), NIMBUS_LOGS_HOST: "0.0.0.0", NIMBUS_LOGS_PORT: String(P.logs), NIMBUS_LOGS_DB: join(dir, "logs.sqlite") }));
  for (const [r, port] of [["a", P.controlA], ["b", P.controlB]] as const)
    define(`control-${r}`, ctl, () => [bun, "run", "src/control/main.ts"], () => ({ ...common(), NIMBUS_CONTROL_HOST: "0.0.0.0", NIMBUS_CONTROL_PORT: String(port), NIMBUS_SECRETS_KEY: SECRETS_KEY, NIMBUS_ORG_SUBMISSIONS_PER_WINDOW: "1000000" }));
  for (const [i, h] of [h1, h2].entries()) {
    const cacheUrl = `http://${h.ip}:${P.cache}`;
    define(`cache-${i + 1}`, h, () => [bun, "run", "src/cache/main.ts"], () => ({ ...common(), NIMBUS_CACHE_HOST: "0.0.0.0", NIMBUS_CACHE_PORT: String(P.cache), NIMBUS_CACHE_PEER_URL: cacheUrl, NIMBUS_CACHE_DB: join(dir, `cache-${i + 1}.sqlite`), NIMBUS_CACHE_DIR: join(dir, `cache-${i + 1}`) }));
  }
  for (const i of [0, 1, 2]) start(`nats-${i}`);
  for (const i of [0, 1, 2])
    await waitFor(async () => {
      const jsz = (await fetch(`http://${ctl.ip}:${P.natsMonitor + i}/jsz`).then((r) => r.json(), () => ({}))) as { meta_cluster?: { leader?: string; cluster_size?: number } };
      return !!jsz.meta_cluster?.leader && jsz.meta_cluster.cluster_size === 3;
    }, 30_000, `NATS node ${i} in the cluster`);
  start("control-a");
  await waitFor(() => healthy(`http://${ctl.ip}:${P.controlA}/readyz`), 60_000, "control replica a");
  for (const n of ["control-b", "logs", "cache-1", "cache-2"]) start(n);
  await waitFor(async () => (await Promise.all([`http://${ctl.ip}:${P.controlB}/readyz`, `http://${ctl.ip}:${P.logs}/healthz`, `http://${h1.ip}:${P.cache}/healthz`, `http://${h2.ip}:${P.cache}/healthz`].map(healthy))).every(Boolean), 60_000, "the other services");
  // Tokens: the operator's, and each agent's own (bound to its id), recorded in the ledger.
  const nc = await connectNats({ url: natsUrls(), name: "fleet-test" });
  const minting = { secret: SECRET, ledger: new TokenLedger(await ensureTokenLedger(nc, { replicas: 3 })) };
  adminToken = (await bootstrapToken(minting, { sub: "admin", role: "operator", ttlSeconds: 3600 })).token;
  for (const [i, h] of [h1, h2].entries()) {
    const id = `host-${i + 1}`;
    const token = (await bootstrapToken(minting, { sub: id, role: "agent", agentId: id, ttlSeconds: 3600 })).token;
    define(`agent-${i + 1}`, h, () => [bun, "run", "agent/main.ts"], () => ({
      ...common(), NIMBUS_AGENT_ID: id, NIMBUS_AGENT_TOKEN: token, NIMBUS_AGENT_DIR: join(dir, id), NIMBUS_AGENT_DRIVERS: "sandbox", NIMBUS_AGENT_SLOTS: "8",
      NIMBUS_AGENT_CACHE_URL: `http://${h.ip}:${P.cache}`,
    }));
    start(`agent-${i + 1}`);
  }
  await nc.close();
  await waitFor(async () => ((await api("a", "/api/agents")).body as { agents?: unknown[] }).agents?.length === 2, 60_000, "both agents registered");
}, 240_000);

afterAll(async () => {
  await lan.destroy();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function api(replica: "a" | "b", path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const port = replica === "a" ? P.controlA : P.controlB;
  const r = await fetch(`http://${ctl.ip}:${port}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", ...init.headers } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** A job that logs its start and end (ns since the epoch): attempts can be checked for overlap. */
const JOB = JSON.stringify({ command: ["sh", "-c", "echo start $(date +%s%N); sleep 0.1; echo end $(date +%s%N)"] });

/** Submit with an idempotency key through one replica, else the other, retrying through faults. */
async function submit(i: number): Promise<string> {
  for (let attempt = 0, delay = 100; ; attempt++, delay = Math.min(delay * 2, 1000)) {
    const replica = (i + attempt) % 2 === 0 ? "a" : "b";
    const r = await api(replica, "/api/jobs", { method: "POST", body: JOB, headers: { "idempotency-key": `accept-${i}` } }).catch(() => null);
    if (r && (r.status === 200 || r.status === 201)) return (r.body as { job: JobRecord }).job.id;
    if (r && r.status < 500 && r.status !== 429) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.body)}`);
    await Bun.sleep(delay);
  }
}

/** Processes of jobs (bubblewrap, the job's shell and sleep) in a host's namespace. */
async function jobProcesses(host: Host): Promise<string[]> {
  const pids = (await lan.run(host, ["ip", "netns", "pids", host.ns])).split("\n").filter(Boolean);
  const comms = await Promise.all(pids.map((pid) => Bun.file(`/proc/${pid}/comm`).text().then((c) => c.trim(), () => "")));
  return comms.filter((c) => ["bwrap", "sleep", "sh"].includes(c));
}

async function jobOf(id: string): Promise<JobRecord | undefined> {
  for (const replica of ["a", "b"] as const) {
    const r = await api(replica, `/api/jobs/${id}`).catch(() => null);
    if (r?.status === 200) return (r.body as { job: JobRecord }).job;
  }
  return undefined;
}

test(`${JOBS} jobs through two control replicas while a NATS node, a control replica and an agent are killed: none lost, none twice, all done in time`, async () => {
  const faults: { what: string; at: number }[] = [];
  const fault = async (name: string, downMs: number, health?: string, host?: Host) => {
    await kill9(name);
    faults.push({ what: name, at: Date.now() });
    // A killed agent's sandboxes die with it (bubblewrap --die-with-parent): nothing of its jobs runs on.
    if (host) await waitFor(async () => !(await jobProcesses(host)).length, 5_000, `${name}'s sandboxes to die with it`);
    await Bun.sleep(downMs);
    start(name);
    if (health)
      await waitFor(() => healthy(health), 60_000, `${name} back`).catch(async (e) => {
        throw new Error(`${(e as Error).message}; its log ends:\n${(await Bun.file(join(dir, "logs", `${name}.log`)).text()).split("\n").slice(-12).join("\n")}`);
      });
  };
  const ids: string[] = new Array(JOBS);
  let submitted = 0;
  // Paced near what two agents on this machine run, so submissions go on through every fault and the
  // deadline measures recovery, not a backlog.
  const t0 = Date.now();
  const submitting = Promise.all(
    Array.from({ length: 16 }, async () => {
      while (submitted < JOBS) {
        const i = submitted++;
        const due = t0 + (i * 1000) / RATE;
        if (due > Date.now()) await Bun.sleep(due - Date.now());
        ids[i] = await submit(i);
      }
    }),
  );
  // The faults, each once, at different times, while jobs are submitted and running.
  await waitFor(() => submitted >= JOBS * 0.3, 300_000, "30 % submitted");
  await fault("nats-1", 3000, `http://${ctl.ip}:${P.natsMonitor + 1}/healthz?js-enabled-only=true`);
  await waitFor(() => submitted >= JOBS * 0.55, 300_000, "55 % submitted");
  await fault("control-a", 1500, `http://${ctl.ip}:${P.controlA}/readyz`);
  await waitFor(() => submitted >= JOBS * 0.8, 300_000, "80 % submitted");
  await fault("agent-1", 1500, undefined, h1);
  await submitting;
  const lastFault = Math.max(...faults.map((f) => f.at));

  // 0 created twice: every key gave one id, and no id twice.
  expect(new Set(ids).size).toBe(JOBS);
  // 0 lost, all terminal in time.
  const deadline = lastFault + LEASE_TTL_MS + 30_000;
  const final = new Map<string, JobRecord>();
  await waitFor(async () => {
    const pending = ids.filter((id) => !final.has(id));
    for (let k = 0; k < pending.length; k += 50) {
      const got = await Promise.all(pending.slice(k, k + 50).map(jobOf));
      for (const j of got) if (j && ["succeeded", "failed", "cancelled", "timed_out"].includes(j.state)) final.set(j.id, j);
    }
    return final.size === JOBS;
  }, Math.max(1, deadline - Date.now()), "every job to be terminal within the lease TTL + 30 s of the last fault").catch((e) => {
    throw new Error(`${(e as Error).message}: ${JOBS - final.size} not terminal`);
  });
  const states: Record<string, number> = {};
  for (const j of final.values()) states[j.state] = (states[j.state] ?? 0) + 1;
  expect(states).toEqual({ succeeded: JOBS });

  // 0 run twice at the same time: the jobs that ran more than once (the killed agent's), attempt by attempt.
  const retried = [...final.values()].filter((j) => j.attempt > 1);
  const agentKill = faults.find((f) => f.what === "agent-1")!.at;
  let overlaps = 0;
  for (const j of retried) {
    const r = await fetch(`http://${ctl.ip}:${P.logs}/v1/jobs/${j.id}/logs?limit=100`, { headers: { authorization: `Bearer ${adminToken}` } });
    const lines = ((await r.json()) as { lines: { attempt: number; text: string }[] }).lines;
    const spans = new Map<number, [bigint, bigint]>();
    for (const l of lines) {
      const m = /^(start|end) (\d+)$/.exec(l.text);
      if (!m) continue;
      // An attempt without an end was the killed agent's: it ran until the kill at most (its sandbox died with it).
      const sp = spans.get(l.attempt) ?? [0n, BigInt(agentKill) * 1_000_000n];
      sp[m[1] === "start" ? 0 : 1] = BigInt(m[2]!);
      spans.set(l.attempt, sp);
    }
    const list = [...spans.values()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let k = 1; k < list.length; k++) if (list[k]![0] < list[k - 1]![1]) overlaps++;
  }
  console.log(`fleet: ${JOBS} jobs, ${retried.length} ran again after the agent's kill, faults at +${faults.map((f) => `${f.what} ${Math.round((f.at - faults[0]!.at) / 1000)}s`).join(", ")}; all done ${Math.round((Math.max(...[...final.values()].map((j) => j.times.succeeded ?? 0)) - lastFault) / 1000)} s after the last`);
  expect(overlaps).toBe(0);
}, 600_000);

test("a cache entry saved through one host's cache restores byte for byte through the other's", async () => {
  const token = await mintRuntimeToken(SECRET, { org: "default", repo: "acme/app", scopes: scopesForRun({ ref: "refs/heads/main" }), ttlSeconds: 600 });
  const data = new Uint8Array(randomBytes(200_000));
  await saveV1(`http://${h1.ip}:${P.cache}`, token, "fleet-key", "v1", data);
  let hit: Response | undefined;
  await waitFor(async () => (hit = await rawClient(`http://${h2.ip}:${P.cache}`, token).lookup(["fleet-key"], "v1")).status === 200, 10_000, "host 2's cache to see the entry");
  const { archiveLocation } = (await hit!.json()) as { archiveLocation: string };
  expect(new URL(archiveLocation).host).toBe(`${h2.ip}:${P.cache}`); // served by the job's own host, which fetches it from host 1
  const body = Buffer.from(await (await fetch(archiveLocation)).arrayBuffer());
  expect(body.equals(Buffer.from(data))).toBe(true);
});
