/**
 * `nimbus up --nats-cluster 3` for real: three nats-server nodes (routes, one store each), every stream
 * and bucket at 3 replicas, and the whole stack (control plane, logs, cache, registry, two agents) on
 * it. The node leading the job and lease buckets is killed with SIGKILL while jobs run: every job
 * completes, no job's attempts overlap in time, and the node, restarted, catches up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.ts";
import { TOKENS_BUCKET, JOBS_BUCKET, QUEUE_STREAM, EVENTS_STREAM } from "../../src/nats/topology.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";
import type { JobRecord } from "../../src/jobs/record.ts";

let s: TestStack;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  s = await testStack({ natsCluster: 3, agents: 2 });
  nc = await connectNats({ url: s.natsUrl, ...s.natsAuth, name: "cluster-test" });
  jsm = await jetstreamManager(nc);
}, 60_000);

afterAll(async () => {
  await nc?.close().catch(() => {});
  await s?.destroy();
}, 60_000);

const STREAMS = [QUEUE_STREAM, EVENTS_STREAM, `KV_${JOBS_BUCKET}`, "KV_nimbus_leases", "KV_nimbus_agents", "KV_nimbus_slots", `KV_${TOKENS_BUCKET}`];

/** A job that logs when it starts and ends (ns since the epoch), so attempts can be checked for overlap. */
const timedJob = (i: number) => ({ name: `c${i}`, command: ["sh", "-c", "echo start $(date +%s%N); sleep 0.4; echo end $(date +%s%N)"] });

/** Submit through the control plane, retrying through a NATS failover (one idempotency key: one job). */
async function submitRetrying(i: number, key: string): Promise<JobRecord> {
  for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
    const r = await s.api<{ job: JobRecord }>("/api/jobs", { method: "POST", json: timedJob(i), headers: { "idempotency-key": key } }).catch(() => null);
    if (r && (r.status === 200 || r.status === 201)) return r.body.job;
    if (r && r.status < 500 && r.status !== 429) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.body)}`);
    await Bun.sleep(delay);
  }
}

describe("a three-node NATS cluster under the stack", () => {
  test("three nodes in one cluster; every stream and bucket at 3 replicas; clients get every node's URL", async () => {
    expect(s.natsNodes.map((n) => n.server)).toEqual(["n1", "n2", "n3"]);
    expect(s.natsUrl.split(",")).toHaveLength(3);
    for (const n of s.natsNodes) {
      const routez = await (await fetch(`${n.monitorUrl}/routez`)).json();
      expect(routez.num_routes).toBe(2);
    }
    for (const name of STREAMS) {
      const info = await jsm.streams.info(name);
      expect([name, info.config.num_replicas]).toEqual([name, 3]);
      expect(info.cluster?.replicas?.length).toBe(2);
    }
    // The control plane, cache and registry were configured with the same replicas.
    expect(s.children.get("control")!.env.NIMBUS_NATS_REPLICAS).toBe("3");
    expect(s.children.get("cache")!.env.NIMBUS_NATS_REPLICAS).toBe("3");
    expect(s.children.get("control")!.env.NIMBUS_NATS_URL).toBe(s.natsUrl);
  });

  test("a route without the cluster's credentials is refused", async () => {
    const n1 = s.natsNodes[0]!;
    const route = Number(new URL(n1.url).port) + 4; // node 1's route port is base + 6, its client port base + 2
    const sock = await Bun.connect({ hostname: "127.0.0.1", port: route, socket: { data() {}, open() {}, close() {}, error() {} } });
    sock.write('CONNECT {"verbose":false,"pedantic":false,"name":"rogue","cluster":"x"}\r\nPING\r\n');
    await Bun.sleep(300);
    const routez = await (await fetch(`${n1.monitorUrl}/routez`)).json();
    expect(routez.routes.map((r: { remote_id: string }) => r.remote_id)).not.toContain("rogue");
    expect(routez.num_routes).toBe(2);
    sock.end();
  });

  test("kill -9 of the node leading the job bucket while jobs run: all complete, none twice at once, the node catches up", async () => {
    await s.waitAgents(2);
    const first = await Promise.all(Array.from({ length: 24 }, (_, i) => submitRetrying(i, `c-${i}`)));
    await waitFor(async () => (await s.api<{ job: JobRecord }>(`/api/jobs/${first[4]!.id}`)).body.job?.state === "running", 20_000, "a job running");
    const leader = (await jsm.streams.info(`KV_${JOBS_BUCKET}`)).cluster!.leader!;
    const victim = s.natsNodes.find((n) => n.server === leader)!;
    process.kill(s.children.get(victim.child)!.proc.pid, "SIGKILL");
    await s.children.get(victim.child)!.proc.exited;
    // More work arrives during the failover window.
    const more = await Promise.all(Array.from({ length: 16 }, (_, i) => submitRetrying(100 + i, `c-${100 + i}`)));
    const all = [...first, ...more];
    const done = await Promise.all(all.map((j) => s.waitJob(j.id, undefined, 90_000)));
    expect(done.map((j) => j.state).filter((st) => st !== "succeeded")).toEqual([]);
    expect(new Set(done.map((j) => j.id)).size).toBe(40);
    // No job ran twice at once: each attempt's [start, end] is disjoint from the others'.
    let overlaps = 0;
    for (const j of done) {
      const lines = await s.logs(j.id);
      const spans = new Map<number, { start?: bigint; end?: bigint }>();
      for (const l of lines) {
        const m = /^(start|end) (\d+)$/.exec(l.text);
        if (!m) continue;
        const sp = spans.get(l.attempt) ?? {};
        sp[m[1] as "start" | "end"] = BigInt(m[2]!);
        spans.set(l.attempt, sp);
      }
      expect(spans.get(j.attempt)?.end).toBeDefined(); // the final attempt ran to the end
      const list = [...spans.values()].map((x) => [x.start ?? 0n, x.end ?? BigInt(Date.now()) * 1_000_000n] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (let k = 1; k < list.length; k++) if (list[k]![0] < list[k - 1]![1]) overlaps++;
    }
    expect(overlaps).toBe(0);
    // Restarted, the node rejoins and every replicated stream is current on it again.
    await s.restart(victim.child);
    await waitFor(
      async () => {
        for (const name of STREAMS) {
          const c = (await jsm.streams.info(name).catch(() => null))?.cluster;
          if (!c) return false;
          const peers = [c.leader, ...(c.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name)];
          if (!peers.includes(victim.server) || peers.length !== 3) return false;
        }
        return true;
      },
      30_000,
      `${victim.server} to catch up`,
      250,
    );
    const jsz = await (await fetch(`${victim.monitorUrl}/jsz?streams=true`)).json();
    expect(jsz.streams).toBeGreaterThanOrEqual(STREAMS.length);
  }, 180_000);
});
