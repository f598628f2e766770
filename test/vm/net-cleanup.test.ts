/**
 * `nimbus up --vm` with a guest network must leave the host as it found it: on stop the agent removes
 * the bridge and the nftables table it created, and nothing that existed before it. Each case runs in
 * a network namespace of its own (private test addresses only); the last one goes through the agent's
 * own shutdown path against a real nats-server.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent } from "../../agent/agent.ts";
import { agentSettings } from "../../src/agents/settings.ts";
import { NoopDriver } from "../../agent/drivers/noop.ts";
import { HostNetwork } from "../../agent/net/network.ts";
import { tableName } from "../../agent/net/policy.ts";
import { guardTableName } from "../../agent/net/guard.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { githubAgentSettings } from "../../src/github/config.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology } from "../../src/nats/topology.ts";

const BRIDGE = "nmbtcl0";
const namespaces: string[] = [];
const dirs: string[] = [];
let nats: NatsServer | undefined;

function sh(...argv: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() };
}

function namespace(): string {
  const ns = `nmbt-c-${Math.random().toString(36).slice(2, 7)}`;
  expect(sh("ip", "netns", "add", ns).code).toBe(0);
  namespaces.push(ns);
  return ns;
}

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nimbus-netclean-"));
  dirs.push(d);
  return d;
}

const bridgeIn = (ns: string) => sh("ip", "-n", ns, "link", "show", "dev", BRIDGE).code === 0;
const tableIn = (ns: string) => sh("ip", "netns", "exec", ns, "nft", "list", "table", "inet", tableName(BRIDGE)).code === 0;
/** The anti-spoofing table (agent/net/guard.ts), made and removed with the policy's. */
const guardIn = (ns: string) => sh("ip", "netns", "exec", ns, "nft", "list", "table", "bridge", guardTableName(BRIDGE)).code === 0;
const network = (ns: string, dir: string) =>
  new HostNetwork({ dbPath: join(dir, "net.sqlite"), bridge: BRIDGE, subnet: "10.88.7.0/24", policy: { hostPorts: [{ port: 18080 }] }, netns: ns });

afterEach(() => {
  for (const ns of namespaces.splice(0)) sh("ip", "netns", "del", ns);
});
afterAll(async () => {
  await nats?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("close removes the bridge and the nftables tables it created", async () => {
  const ns = namespace();
  const net = network(ns, stateDir());
  await net.setup();
  expect([bridgeIn(ns), tableIn(ns), guardIn(ns)]).toEqual([true, true, true]);
  expect(await net.close()).toEqual([`nftables table inet ${tableName(BRIDGE)}`, `nftables table bridge ${guardTableName(BRIDGE)}`, `bridge ${BRIDGE}`]);
  expect([bridgeIn(ns), tableIn(ns), guardIn(ns)]).toEqual([false, false, false]);
});

test("a bridge and a table that existed before stay", async () => {
  const ns = namespace();
  expect(sh("ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge").code).toBe(0);
  expect(sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", tableName(BRIDGE)).code).toBe(0);
  expect(sh("ip", "netns", "exec", ns, "nft", "add", "table", "bridge", guardTableName(BRIDGE)).code).toBe(0);
  const net = network(ns, stateDir());
  await net.setup();
  expect(await net.close()).toEqual([]);
  expect([bridgeIn(ns), tableIn(ns), guardIn(ns)]).toEqual([true, true, true]);
});

test("only the one it created goes: a bridge that was there stays, its new table is removed", async () => {
  const ns = namespace();
  expect(sh("ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge").code).toBe(0);
  const net = network(ns, stateDir());
  await net.setup();
  expect(await net.close()).toEqual([`nftables table inet ${tableName(BRIDGE)}`, `nftables table bridge ${guardTableName(BRIDGE)}`]);
  expect([bridgeIn(ns), tableIn(ns), guardIn(ns)]).toEqual([true, false, false]);
});

test("what a crashed run created is still known as ours after a restart, and removed on the next stop", async () => {
  const ns = namespace();
  const dir = stateDir();
  const first = network(ns, dir);
  await first.setup();
  first.store.close(); // crashed: no close()
  const second = network(ns, dir);
  await second.setup(); // finds them present, but its store says they are its own
  expect(await second.close()).toHaveLength(3);
  expect([bridgeIn(ns), tableIn(ns), guardIn(ns)]).toEqual([false, false, false]);
});

test("the agent's stop removes them (the shutdown path Ctrl-C on nimbus up takes)", async () => {
  nats = await startNats();
  // The control plane creates the streams and buckets; an agent only waits for them.
  const nc = await connectNats({ url: nats.url, name: "netclean-topology" });
  await ensureTopology(nc);
  await nc.close();
  const ns = namespace();
  const dir = stateDir();
  const config = loadConfig(agentSettings, {
    NIMBUS_NATS_URL: nats.url,
    NIMBUS_AGENT_TOKEN: "t".repeat(32),
    NIMBUS_AGENT_DIR: dir,
    NIMBUS_AGENT_ID: "netclean-agent",
    NIMBUS_LOGS_URL: "http://127.0.0.1:9",
  });
  const net = network(ns, dir);
  const agent = await startAgent(config, loadConfig(githubAgentSettings, {}), () => ({ byIsolation: new Map([["sandbox", new NoopDriver()]]), network: net }));
  await net.setup(); // what the first VM job's attach does
  expect([bridgeIn(ns), tableIn(ns)]).toEqual([true, true]);
  await agent.stop();
  expect([bridgeIn(ns), tableIn(ns), guardIn(ns)]).toEqual([false, false, false]);
}, 30_000);
