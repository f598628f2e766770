/**
 * Sandbox jobs and the network (issue #11, defect 7), inside network namespaces this test creates
 * (private test addresses only, test/vm/netns.ts): a job with a network gets a namespace of its own
 * on the agent's bridge under the VMs' egress policy, never the host's; without the means to make
 * one it is refused. And the job's environment, secrets included, is on no process's command line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxDriver } from "../../agent/drivers/sandbox/driver.ts";
import { findInstancePids } from "../../agent/drivers/sandbox/procs.ts";
import { driversFor } from "../../agent/drivers/select.ts";
import type { Instance, RunSpec } from "../../agent/drivers/types.ts";
import { netnsName, vethName } from "../../agent/net/addr.ts";
import { JobNamespaces } from "../../agent/net/job-netns.ts";
import { HostNetwork } from "../../agent/net/network.ts";
import { reconcile } from "../../agent/reconcile.ts";
import { AgentStore } from "../../agent/store.ts";
import { agentSettings } from "../../src/agents/settings.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { isAppError } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/log.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { capture } from "./conformance.ts";
import { HOST_SERVICES, NetWorld, OUT_IP } from "../vm/netns.ts";

const world = new NetWorld();
const state = mkdtempSync(join(tmpdir(), "nimbus-sbxnet-"));
const root = mkdtempSync(join(tmpdir(), "nimbus-sbxnet-root-"));
chmodSync(root, 0o711); // the sandbox uid must traverse it
const owner = `sbxnet-${process.pid}`;
const bridge = `nmbts${world.tag}`;
let net: HostNetwork;
let driver: SandboxDriver;
/** A service on the loopback of the agent's own namespace (where this test process runs). */
let loopback: ReturnType<typeof Bun.serve>;

const dbPath = join(state, "net.sqlite");
const hostNetwork = () => new HostNetwork({ dbPath, bridge, subnet: "10.88.0.0/24", policy: { hostPorts: [{ port: HOST_SERVICES.cache }] }, netns: world.hostNs });
const sandbox = (n: HostNetwork) => new SandboxDriver({ root: join(root, "agent"), uid: 65534, owner, network: new JobNamespaces(n) });

beforeAll(async () => {
  await world.create();
  net = hostNetwork();
  driver = sandbox(net);
  expect((await driver.probe()).ok).toBe(true);
  loopback = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("loopback\n") });
});

afterAll(async () => {
  for (const inst of await driver.list()) await driver.destroy(inst).catch(() => undefined);
  loopback?.stop(true);
  await net?.teardown().catch(() => undefined);
  net?.store.close();
  await world.destroy();
  rmSync(state, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

const spec = (tag: string, command: string[], extra: Partial<RunSpec> = {}): RunSpec => {
  const jobId = `sbxnet${tag}${world.tag}`;
  return { jobId, attempt: 1, command, env: {}, dir: join(state, jobId), requirements: parseLabels(["nimbus"]), ...extra };
};

/** busybox sh inside the sandbox: "addr A" then one "IP:PORT -> BODY|refused" line per target. */
function probe(targets: string[]): string[] {
  const lines = targets.map((t) => {
    const [ip, port] = t.split(":");
    return `r=$(printf 'GET /id HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${ip} ${port} 2>/dev/null | tail -n1); echo "${t} -> \${r:-refused}"`;
  });
  return ["sh", "-c", `busybox ip -4 -o addr show eth0 | busybox awk '{print "addr " $4}'\n${lines.join("\n")}`];
}

async function run(inst: Instance, s: RunSpec): Promise<{ code: number; out: string }> {
  const out = capture();
  const res = await (await driver.start(inst, s, out.sink)).exited;
  return { code: res.exitCode, out: out.text("out") };
}

describe("a sandbox job with a network", () => {
  test("reaches beyond the host and the allowed host port; not the host's loopback, the metadata address or other host ports", async () => {
    const lo = `127.0.0.1:${loopback.port}`;
    expect(await (await fetch(`http://${lo}/id`)).text()).toBe("loopback\n"); // it is there, for the host
    const targets = [`${net.gateway}:${HOST_SERVICES.cache}`, `${OUT_IP}:80`, lo, "169.254.169.254:80", `${net.gateway}:${HOST_SERVICES.admin}`, `${net.gateway}:${HOST_SERVICES.nats}`, `10.99.0.1:${HOST_SERVICES.nats}`];
    const s = spec("egress", probe(targets), { network: true });
    const inst = await driver.prepare(s);
    const { code, out } = await run(inst, s);
    expect(code).toBe(0);
    expect(out).toContain(`addr ${inst.meta.ip}`);
    expect(out).toContain(`${targets[0]} -> cache`);
    expect(out).toContain(`${targets[1]} -> outside`);
    for (const t of targets.slice(2)) expect(out).toContain(`${t} -> refused`);
    await driver.destroy(inst);
  }, 60_000);

  test("two at once get distinct addresses, each its own", async () => {
    const specs = [spec("twoa", probe([`${OUT_IP}:80`]), { network: true }), spec("twob", probe([`${OUT_IP}:80`]), { network: true })];
    const insts = await Promise.all(specs.map((s) => driver.prepare(s)));
    expect(insts[0]!.meta.ip).not.toBe(insts[1]!.meta.ip);
    const results = await Promise.all(insts.map((inst, i) => run(inst, specs[i]!)));
    results.forEach((r, i) => {
      expect(r.out).toContain(`addr ${insts[i]!.meta.ip}`);
      expect(r.out).toContain(`${OUT_IP}:80 -> outside`);
    });
    for (const inst of insts) await driver.destroy(inst);
  }, 60_000);

  test("destroy removes its namespace, veth and address lease; twice is fine", async () => {
    const s = spec("destroy", ["true"], { network: true });
    const inst = await driver.prepare(s);
    expect(await driver.prepare(s)).toEqual(inst); // "already exists" is reconciled
    expect(existsSync(`/run/netns/${netnsName(inst.name)}`)).toBe(true);
    expect(await net.host.linkExists(vethName(inst.name))).toBe(true);
    await driver.destroy(inst);
    await driver.destroy(inst);
    expect(existsSync(`/run/netns/${netnsName(inst.name)}`)).toBe(false);
    expect(await net.host.linkExists(vethName(inst.name))).toBe(false);
    expect(net.store.get(inst.name)).toBeUndefined();
  });

  test("after a crash, the restarted agent's reconcile removes what the job left (namespace, veth, lease, directory)", async () => {
    const s = spec("crash", ["sh", "-c", "sleep 600"], { network: true });
    const inst = await driver.prepare(s);
    await driver.start(inst, s, () => {});
    net.store.close(); // the agent died: its store closes, nothing is cleaned up
    const local = new AgentStore(mkdtempSync(join(state, "agent-")));
    try {
      net = hostNetwork();
      driver = sandbox(net);
      const deps = { agentId: owner, workRoot: join(state, "work"), local, drivers: [driver], jobs: undefined as never, leases: undefined as never, log: createLogger("test") };
      expect(await reconcile(deps)).toEqual({ released: 0, orphans: 1 });
    } finally {
      local.close();
    }
    expect(findInstancePids(inst.name, owner).size).toBe(0);
    expect(existsSync(`/run/netns/${netnsName(inst.name)}`)).toBe(false);
    expect(await net.host.linkExists(vethName(inst.name))).toBe(false);
    expect(net.store.all()).toEqual([]);
    expect(existsSync(inst.dir)).toBe(false);
  }, 30_000);
});

describe("without the means to give it a namespace of its own", () => {
  test("a job with a network is refused, naming the requirement; nothing is created", async () => {
    const bare = new SandboxDriver({ root: join(root, "bare"), uid: 65534, owner: `${owner}-bare`, noNetworkReason: "making a network namespace needs root" });
    const s = spec("refused", ["true"], { network: true });
    const err = await bare.prepare(s).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe("unavailable");
    expect(String((err as Error).message)).toContain("needs root");
    expect(existsSync(join(root, "bare", `nimbus-${s.jobId}-1`))).toBe(false);
    expect(existsSync(`/run/netns/${netnsName(`nimbus-${s.jobId}-1`)}`)).toBe(false);
  });

  test("an agent without a VM network (NIMBUS_VM_NETWORK=none) refuses them, and says which settings it needs", async () => {
    const config = loadConfig(agentSettings, {
      NIMBUS_NATS_URL: "nats://127.0.0.1:4222", NIMBUS_AGENT_TOKEN: "t".repeat(32), NIMBUS_AGENT_DIR: state, NIMBUS_LOGS_URL: "http://127.0.0.1:9",
      NIMBUS_SANDBOX_DIR: root, NIMBUS_VM_NETWORK: "none",
    });
    const d = driversFor(config, `${owner}-none`).byIsolation.get("sandbox")!;
    const err = await d.prepare(spec("none", ["true"], { network: true })).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe("unavailable");
    expect(String((err as Error).message)).toContain("NIMBUS_VM_NETWORK=nat or offline");
  });
});

describe("the job's environment", () => {
  test("secrets are on no process's command line (nor in setpriv's or bwrap's environment), yet the job has them; the agent's environment stays out", async () => {
    const secret = `s3cr3t-${crypto.randomUUID()}`;
    process.env.NIMBUS_SBXNET_AGENT_ONLY = "agent-only-value";
    const s = spec("cmdline", ["sh", "-c", 'printf %s "$JOB_SECRET" | md5sum; echo "agent=${NIMBUS_SBXNET_AGENT_ONLY:-unset}"; echo ready; sleep 600'], { env: { JOB_SECRET: secret }, network: true });
    const inst = await driver.prepare(s);
    const out = capture();
    await driver.start(inst, s, out.sink);
    for (let i = 0; i < 500 && !out.text("out").includes("ready"); i++) await Bun.sleep(20);
    expect(out.text("out")).toContain(createHash("md5").update(secret).digest("hex"));
    expect(out.text("out")).toContain("agent=unset");
    const job = findInstancePids(inst.name, owner);
    expect(job.size).toBeGreaterThan(0); // the scan below covers the job's processes
    const leaks: string[] = [];
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      const read = (f: string) => { try { return readFileSync(`/proc/${pid}/${f}`, "utf8"); } catch { return ""; } };
      if (read("cmdline").includes(secret)) leaks.push(`${pid} cmdline`);
      if (job.has(Number(pid)) && read("environ").includes(secret)) leaks.push(`${pid} environ`);
    }
    expect(leaks).toEqual([]);
    await driver.destroy(inst);
  }, 30_000);
});
