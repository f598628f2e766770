/**
 * Egress policy and VM networking, inside network namespaces this test creates (private test
 * addresses only). A namespace plugged into the bridge checks the policy cheaply; one VM checks
 * the whole path: tap, address from SQLite, guest network config, NAT, refusals.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import type { Instance } from "../../agent/drivers/types.ts";
import { tapName } from "../../agent/net/addr.ts";
import { HostNetwork } from "../../agent/net/network.ts";
import type { EgressPolicy } from "../../agent/net/policy.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { parseWarmClasses } from "../../src/agents/warm-schedule.ts";
import { SnapshotPool } from "../../agent/drivers/qemu/snapshot-pool.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { capture } from "../drivers/conformance.ts";
import { HOST_SERVICES, NetWorld, OUT_IP, probeScript } from "./netns.ts";

const world = new NetWorld();
const state = mkdtempSync(join(tmpdir(), "nimbus-net-"));
const online: EgressPolicy = { hostPorts: [{ port: HOST_SERVICES.cache }] };
let net: HostNetwork;

beforeAll(async () => {
  await world.create();
  net = new HostNetwork({ dbPath: join(state, "net.sqlite"), bridge: "nmbtbr0", subnet: "10.88.0.0/24", policy: online, netns: world.hostNs });
  await net.setup();
  await world.plugGuest("nmbtbr0", "10.88.0.200", net.gateway);
});

afterAll(async () => {
  await world.destroy();
  net?.store.close();
  rmSync(state, { recursive: true, force: true });
});

describe("egress policy (guest namespace on the VM bridge)", () => {
  test("online: Nimbus endpoints and the outside are reachable; metadata, admin and NATS ports are refused", async () => {
    expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.cache)).toBe("cache");
    expect(await world.fetchFromGuest(OUT_IP, 80)).toBe("outside");
    expect(await world.fetchFromGuest("169.254.169.254", 80)).toBe("refused");
    expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.admin)).toBe("refused");
    expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.nats)).toBe("refused");
    expect(await world.fetchFromGuest("10.99.0.1", HOST_SERVICES.nats)).toBe("refused");
  });

  test("offline: only the allow-list is reachable beyond the host", async () => {
    await net.setup({ ...online, offline: true, allow: [{ ip: OUT_IP, port: 8080 }] });
    try {
      expect(await world.fetchFromGuest(OUT_IP, 8080)).toBe("out8080");
      expect(await world.fetchFromGuest(OUT_IP, 80)).toBe("refused");
      expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.cache)).toBe("cache");
      expect(await world.fetchFromGuest("169.254.169.254", 80)).toBe("refused");
    } finally {
      await net.setup(online);
    }
  });

  test("the results gateway redirect: guest TCP to 443 on the gateway reaches the gateway's port; that port dialled directly, and every other refused port, stays refused", async () => {
    expect(await world.fetchFromGuest(net.gateway, 443)).toBe("refused");
    await net.redirect(443, HOST_SERVICES.results);
    try {
      expect(await world.fetchFromGuest(net.gateway, 443)).toBe("results");
      expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.results)).toBe("refused");
      expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.admin)).toBe("refused");
      expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.nats)).toBe("refused");
      expect(await world.fetchFromGuest(net.gateway, HOST_SERVICES.cache)).toBe("cache");
      expect(await world.fetchFromGuest("169.254.169.254", 80)).toBe("refused");
      // Only the gateway address is redirected: 443 beyond the host is not taken over.
      expect(await world.fetchFromGuest(OUT_IP, 443)).toBe("refused");
      // Re-applied (an offline switch, a restart's setup): the redirect stays with the policy.
      await net.setup();
      expect(await world.fetchFromGuest(net.gateway, 443)).toBe("results");
    } finally {
      await net.setup(online);
    }
    expect(await world.fetchFromGuest(net.gateway, 443)).toBe("refused");
  });

  test("attach and detach are idempotent; leases live in SQLite; stray taps are reaped", async () => {
    const a1 = await net.attach("nimbus-neta-1");
    const a2 = await net.attach("nimbus-neta-1");
    const b = await net.attach("nimbus-netb-1");
    expect(a2).toEqual(a1);
    expect(a1.tap).toBe(tapName("nimbus-neta-1"));
    expect(b.ip).not.toBe(a1.ip);
    expect(net.store.all().map((l) => l.name).sort()).toEqual(["nimbus-neta-1", "nimbus-netb-1"]);
    expect(await net.host.linkExists(a1.tap)).toBe(true);
    await net.detach("nimbus-neta-1");
    await net.detach("nimbus-neta-1");
    expect(await net.host.linkExists(a1.tap)).toBe(false);
    expect((await net.attach("nimbus-netc-1")).ip).toBe(a1.ip);
    net.store.release("nimbus-netb-1");
    expect(await net.reapUnknownTaps()).toEqual([b.tap]);
    await net.detach("nimbus-netc-1");
  });
});

const TARGETS = () => [`${net.gateway}:${HOST_SERVICES.cache}`, `${OUT_IP}:80`, "169.254.169.254:80", `${net.gateway}:${HOST_SERVICES.admin}`, `${net.gateway}:${HOST_SERVICES.nats}`];

/** Runs the probe of every target in a VM of `driver`; checks its address and the policy's answers. */
async function probeInVm(driver: QemuDriver, jobId: string): Promise<Instance> {
  const targets = TARGETS();
  // The policy is judged once the guest's link answers at all: under software emulation on a loaded
  // host a warm VM's first packets after its network is configured were seen to go unanswered for a
  // moment (2 of 4 full runs); waiting up to 10 s for the cache keeps this test about the policy.
  const [gw, port] = targets[0]!.split(":");
  const ready = `i=0; while [ $i -lt 40 ]; do r=$(printf 'GET /id HTTP/1.0\\r\\n\\r\\n' | nc -w 1 ${gw} ${port} 2>/dev/null | tail -n1); [ -n "$r" ] && break; i=$((i+1)); sleep 0.25; done; echo "ready after $i tries"`;
  const spec = { jobId, attempt: 1, command: ["sh", "-c", `ip -4 -o addr show eth0 | awk '{print "addr " $4}'\n${ready}\n${probeScript(targets)}`], env: {}, dir: join(state, jobId), requirements: parseLabels(["nimbus"]) };
  const inst = await driver.prepare(spec);
  const out = capture();
  const res = await (await driver.start(inst, spec, out.sink)).exited;
  const text = out.text("out");
  expect(res.exitCode).toBe(0);
  expect(text).toContain(`addr ${inst.meta.ip}`);
  expect(text).toContain(`${targets[0]} -> cache`);
  expect(text).toContain(`${targets[1]} -> outside`);
  for (const t of targets.slice(2)) expect(text).toContain(`${t} -> refused`);
  return inst;
}

test("a VM on its tap: reaches the cache and the outside, refused metadata, admin and NATS", async () => {
  await ensureVmAssets();
  const driver = new QemuDriver({ stateDir: join(state, "qemu"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, network: net, netns: world.hostNs });
  const inst = await probeInVm(driver, `net${world.tag}`);
  await driver.destroy(inst);
  expect(await net.host.linkExists(String(inst.meta.tap))).toBe(false);
  expect(net.store.get(inst.name)).toBeUndefined();
  expect(existsSync(join(inst.dir, "qemu"))).toBe(false);
}, 90_000);

test("a warm VM with its own tap: a job takes it, gets the VM's address and the policy; destroy and close remove taps and leases", async () => {
  await ensureVmAssets();
  const driver = new QemuDriver({
    stateDir: join(state, "qemu-warm"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, network: net, netns: world.hostNs, accel: "tcg",
    warmPool: { classes: parseWarmClasses("2c4g=1..1") },
  });
  let closed = false;
  try {
    await driver.probe(); // starts filling the pool
    await driver.warm!.settled();
    expect(driver.warm!.stats()[0]).toMatchObject({ idle: 1 });
    const inst = await probeInVm(driver, `warmnet${world.tag}`);
    expect(inst.meta.warmVm).toBeString();
    await driver.destroy(inst);
    expect(await net.host.linkExists(String(inst.meta.tap))).toBe(false);
    expect(net.store.get(String(inst.meta.warmVm))).toBeUndefined();
    await driver.warm!.settled(); // the replacement started behind the taken VM
    const replacement = net.store.all().filter((l) => l.name.startsWith("nimbus-warm-"));
    expect(replacement.length).toBe(1);
    await driver.close();
    closed = true;
    expect(net.store.all().filter((l) => l.name.startsWith("nimbus-warm-"))).toEqual([]);
    expect(await net.host.linkExists(replacement[0]!.tap)).toBe(false);
  } finally {
    // A failed assertion must not leave the pool's VMs running (they load every later test).
    if (!closed) await driver.close().catch(() => {});
  }
}, 180_000);

test("a VM restored from a snapshot gets its own tap: address, egress policy (the template's NIC has no state to restore)", async () => {
  await ensureVmAssets();
  const snapshots = new SnapshotPool({ dir: join(state, "net-snaps"), jobDiskGiB: 2 });
  const driver = new QemuDriver({ stateDir: join(state, "qemu-snap"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, network: net, netns: world.hostNs, accel: "tcg", snapshots });
  await snapshots.prepare(await driver.planFor(parseLabels(["nimbus"])));
  const inst = await probeInVm(driver, `snapnet${world.tag}`);
  expect(inst.meta.snapshot).toBeDefined();
  await driver.destroy(inst);
  expect(await net.host.linkExists(String(inst.meta.tap))).toBe(false);
}, 120_000);
