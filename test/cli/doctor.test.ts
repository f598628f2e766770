/**
 * `nimbus doctor`: each check's verdicts from a host probe that says what a host would (every branch,
 * with its fix and exit code), then the command itself on this host against a real nats-server's
 * monitoring endpoint, with one of the stack's ports taken by another listener.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DISK_FAIL_BYTES, DISK_WARN_BYTES, exitCodeOf, runChecks, SKEW_WARN_MS, type CheckResult, type HostProbe } from "../../src/cli/doctor/checks.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";

/** A host with everything in place; each test changes what it is about. */
function host(o: Partial<HostProbe> = {}): HostProbe {
  return {
    access: () => ({ exists: true, readWrite: true }),
    exists: () => true,
    version: async (argv) => `${argv[0]} 1.0`,
    cpuFlags: () => new Set(["vmx", "sse2"]),
    kernelRelease: () => "6.1.0-18-amd64",
    isRoot: () => true,
    freeBytes: () => 100 * 1024 ** 3,
    portFree: async () => true,
    nats: async () => ({ healthy: true, serverNowMs: 1_000_000, localMidMs: 1_000_050 }),
    ...o,
  };
}
const input = { dataDir: "/var/lib/nimbus", ports: { control: 7070, logs: 7071 }, stackRunning: false, natsMonitorUrl: "http://nats:8222" };
const byId = (rs: CheckResult[]) => Object.fromEntries(rs.map((r) => [r.id, r]));

describe("verdicts", () => {
  test("a host with everything passes every check, in a fixed order, and exits 0", async () => {
    const rs = await runChecks(host(), input);
    expect(rs.map((r) => r.id)).toEqual(["kvm", "tun", "nftables", "bubblewrap", "qemu", "mmdebstrap", "firecracker", "cgroup-v2", "kernel", "disk", "nats", "clock", "ports"]);
    expect(rs.filter((r) => r.verdict !== "pass")).toEqual([]);
    expect(rs.every((r) => r.fix === undefined && r.neededBy.length > 0)).toBe(true);
    expect(byId(rs).clock!.detail).toBe("this host's clock is 50 ms ahead of NATS's");
    expect(exitCodeOf(rs)).toBe(0);
  });

  test("KVM: missing, not ours to open, or without a vmx/svm flag: warnings with their fix (VMs still run, emulated)", async () => {
    const missing = byId(await runChecks(host({ access: () => ({ exists: false, readWrite: false }) }), input)).kvm!;
    expect(missing).toMatchObject({ verdict: "warn", detail: expect.stringContaining("software emulation"), fix: expect.stringContaining("kvm_intel") });
    expect(byId(await runChecks(host({ access: () => ({ exists: true, readWrite: false }) }), input)).kvm).toMatchObject({ verdict: "warn", fix: expect.stringContaining("kvm group") });
    expect(byId(await runChecks(host({ cpuFlags: () => new Set(["sse2"]) }), input)).kvm).toMatchObject({ verdict: "warn", detail: expect.stringContaining("no vmx or svm") });
  });

  test("what agents cannot start without fails (exit 1); what is optional warns", async () => {
    const rs = byId(await runChecks(host({ exists: (p) => p !== "/dev/net/tun" && !p.startsWith("/sys/fs/cgroup"), version: async (argv) => (argv[0] === "qemu-system-x86_64" ? "QEMU 7.2" : null) }), input));
    expect(rs.tun).toMatchObject({ verdict: "fail", fix: "modprobe tun (and make it load at boot)" });
    expect(rs.nftables).toMatchObject({ verdict: "fail", fix: "apt-get install nftables" });
    expect(rs.bubblewrap).toMatchObject({ verdict: "fail", fix: "apt-get install bubblewrap" });
    expect(rs.qemu!.verdict).toBe("pass");
    expect(rs.firecracker!.verdict).toBe("warn");
    expect(rs.mmdebstrap).toMatchObject({ verdict: "warn", fix: "apt-get install mmdebstrap" });
    expect(rs["cgroup-v2"]).toMatchObject({ verdict: "warn", detail: "no cgroup v2 hierarchy" });
    expect(exitCodeOf(Object.values(rs))).toBe(1);
    // A hybrid hierarchy (v2 only under unified/) is named as such.
    const hybrid = byId(await runChecks(host({ exists: (p) => p !== "/sys/fs/cgroup/cgroup.controllers" }), input))["cgroup-v2"]!;
    expect(hybrid).toMatchObject({ verdict: "warn", detail: expect.stringContaining("hybrid") });
  });

  test("kernel, disk and clock thresholds", async () => {
    expect(byId(await runChecks(host({ kernelRelease: () => "4.19.0-27-amd64" }), input)).kernel).toMatchObject({ verdict: "warn", detail: expect.stringContaining("older than 5.10") });
    expect(byId(await runChecks(host({ kernelRelease: () => "5.10.0-30-amd64" }), input)).kernel!.verdict).toBe("pass");
    expect(byId(await runChecks(host({ freeBytes: () => DISK_WARN_BYTES - 1 }), input)).disk!.verdict).toBe("warn");
    const full = byId(await runChecks(host({ freeBytes: () => DISK_FAIL_BYTES - 1 }), input)).disk!;
    expect(full).toMatchObject({ verdict: "fail", detail: expect.stringContaining("/var/lib/nimbus"), fix: expect.stringContaining("--data-dir") });
    const behind = byId(await runChecks(host({ nats: async () => ({ healthy: true, serverNowMs: 10_000, localMidMs: 10_000 - SKEW_WARN_MS - 1 }) }), input)).clock!;
    expect(behind).toMatchObject({ verdict: "warn", detail: `this host's clock is ${SKEW_WARN_MS + 1} ms behind NATS's`, fix: expect.stringContaining("NTP") });
  });

  test("NATS unhealthy fails, naming the address; unknown NATS warns; ports taken by something else fail, by the stack itself pass", async () => {
    const down = byId(await runChecks(host({ nats: async () => ({ healthy: false, serverNowMs: null, localMidMs: 0, error: "connection refused" }) }), input));
    expect(down.nats).toMatchObject({ verdict: "fail", detail: "NATS at http://nats:8222 is not healthy with JetStream: connection refused" });
    expect(down.clock).toBeUndefined();
    expect(byId(await runChecks(host(), { ...input, natsMonitorUrl: undefined })).nats).toMatchObject({ verdict: "warn", fix: expect.stringContaining("--nats-monitor") });
    const taken = byId(await runChecks(host({ portFree: async (p) => p !== 7071 }), input)).ports!;
    expect(taken).toMatchObject({ verdict: "fail", detail: "in use by something else: 7071 (logs)", fix: expect.stringContaining("--port-base") });
    expect(byId(await runChecks(host({ portFree: async () => false }), { ...input, stackRunning: true })).ports!.verdict).toBe("pass");
  });
});

describe("nimbus doctor on this host", () => {
  const BIN = resolve(import.meta.dir, "../../bin/nimbus");
  let nats: NatsServer;
  let holder: Server;
  let base: number;
  const dataDir = mkdtempSync(join(tmpdir(), "nimbus-doctor-"));
  beforeAll(async () => {
    nats = await startNats();
    base = await freePort();
    holder = createServer();
    await new Promise<void>((r) => holder.listen(base + 1, "127.0.0.1", r)); // the logs port of that base
  });
  afterAll(async () => {
    holder?.close();
    await nats?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const doctor = (...args: string[]) => {
    const p = Bun.spawnSync([BIN, "doctor", "--data-dir", dataDir, ...args], { stdout: "pipe", stderr: "pipe" });
    return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
  };

  test("--json: NATS healthy with this host's clock within a second of it; the taken port fails the run; tools as this host has them", async () => {
    const r = doctor("--json", "--port-base", String(base), "--nats-monitor", `http://127.0.0.1:${nats.monitorPort}`);
    const doc = JSON.parse(r.out) as { ok: boolean; checks: CheckResult[] };
    const c = byId(doc.checks);
    expect(c.nats).toMatchObject({ verdict: "pass", detail: expect.stringContaining("JetStream enabled") });
    expect(c.clock!.verdict).toBe("pass");
    // (Another port of that base may be taken too on a busy machine: the one held here must be named.)
    expect(c.ports).toMatchObject({ verdict: "fail", detail: expect.stringContaining(`${base + 1} (logs)`) });
    expect(doc.ok).toBe(false);
    expect(r.code).toBe(1);
    // What the test setup installs is found (bubblewrap, nftables, qemu).
    for (const id of ["bubblewrap", "nftables", "qemu", "mmdebstrap", "kernel"]) expect(c[id]!.verdict).toBe("pass");
    expect(c.disk!.detail).toContain(dataDir);
  });

  test("text: one line per check with ok/warn/FAIL, a fix under each that is not ok; a bad --port-base is a usage error", async () => {
    const r = doctor("--port-base", String(base), "--nats-monitor", "http://127.0.0.1:9");
    expect(r.out).toMatch(/^FAIL  nats +NATS at http:\/\/127\.0\.0\.1:9 is not healthy/m);
    expect(r.out).toMatch(/^ok    bubblewrap +bubblewrap \d/m);
    expect(r.out).toMatch(/^ +fix: stop what holds them, or choose other ports with nimbus up --port-base N$/m);
    expect(r.code).toBe(1);
    expect(doctor("--port-base", "99999")).toMatchObject({ code: 2, err: "nimbus doctor: --port-base must be a port number (1-65530)\n" });
  });
});
