/**
 * The warm pool inside the qemu driver, with real VMs (restored from the shape's snapshot): a job
 * takes a waiting VM at prepare and runs on it; a replacement is started behind it; the pool's own
 * VMs are not listed as instances; close() (agent stop) destroys them; an agent killed with -9
 * leaves warm VMs that a new driver over the same state lists and destroys (the reaper).
 * The conformance suite runs again on a pool-backed driver. How long a take takes to the job's
 * output is measured by scripts/bench/vm.ts ("warm pool take → job exec"), not asserted here.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import type { QemuDriverOptions } from "../../agent/drivers/qemu/options.ts";
import { SnapshotPool } from "../../agent/drivers/qemu/snapshot-pool.ts";
import { parseWarmClasses } from "../../src/agents/warm-schedule.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { capture, runDriverConformance } from "../drivers/conformance.ts";

const state = mkdtempSync(join(tmpdir(), "nimbus-warm-"));
const snapshots = new SnapshotPool({ dir: join(state, "snapshots"), jobDiskGiB: 2 });
const owner = `warmtest${process.pid}`;
const base = (sub: string): QemuDriverOptions => ({ stateDir: join(state, sub), owner, maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, accel: "tcg", snapshots });
const req = parseLabels(["nimbus"]);

function qemuPids(tag: string): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8");
      return argv.includes("qemu-system") && argv.includes(tag) && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z ");
    } catch {
      return false;
    }
  }).map(Number);
}

beforeAll(async () => {
  await ensureVmAssets();
  await snapshots.prepare(await new QemuDriver(base("tpl")).planFor(req));
}, 120_000);

test("a job takes a warm VM that was already running (prepare boots nothing) and runs on it; a replacement starts behind it; close() destroys the pool", async () => {
  const driver = new QemuDriver({ ...base("pool"), warmPool: { classes: parseWarmClasses("2c4g=1..1") } });
  expect((await driver.probe()).detail).toContain("warm pool 2c4g=1..1");
  await driver.warm!.settled();
  expect(driver.warm!.stats()[0]).toMatchObject({ idle: 1, starting: 0 });
  expect(await driver.list()).toEqual([]); // the pool's own VMs are not instances
  for (const n of [1, 2]) {
    await driver.warm!.settled();
    const spec = { jobId: `warm${n}`, attempt: 1, command: ["sh", "-c", 'echo "job $N on $(hostname)"; echo data > ~/f; cat ~/f; exit 3'], env: { N: `${n}` }, dir: join(state, `job${n}`), requirements: req };
    const waiting = qemuPids(join(state, "pool", "warm"));
    expect(waiting.length).toBe(1); // the one idle VM of the pool
    const inst = await driver.prepare(spec);
    expect(inst.meta.warmVm).toStartWith("nimbus-warm-");
    expect(qemuPids(`guest=${inst.meta.warmVm},`)).toEqual(waiting); // the job got the VM that was waiting
    expect(await driver.prepare(spec)).toEqual(inst); // idempotent
    const out = capture();
    const exec = await driver.start(inst, spec, out.sink);
    expect(exec.pid).toBe(waiting[0]!);
    const res = await exec.exited;
    expect(res.exitCode).toBe(3);
    expect(out.text("out")).toBe(`job ${n} on nimbus-warm${n}-1\ndata\n`);
    expect((await driver.list()).map((i) => i.name)).toContain(inst.name);
    await driver.destroy(inst);
    expect(qemuPids(`guest=${inst.meta.warmVm},`)).toEqual([]);
    expect(existsSync(inst.meta.vmDir as string)).toBe(false);
  }
  await driver.warm!.settled();
  expect(driver.warm!.stats()[0]!.idle).toBe(1);
  await driver.close();
  expect(qemuPids(owner)).toEqual([]);
  expect(readdirSync(join(state, "pool", "warm"))).toEqual([]);
}, 90_000);

test("standing mounts (the GitHub runner): warm VMs carry them; a job that mounts them takes a warm VM, another mount boots cold, a job that asks for none does not see them", async () => {
  const runner = join(state, "runner-dir");
  mkdirSync(runner, { recursive: true });
  writeFileSync(join(runner, "run.sh"), "#!/bin/sh\necho runner here\n", { mode: 0o755 });
  const extra = join(state, "extra-dir");
  mkdirSync(extra, { recursive: true });
  writeFileSync(join(extra, "x.txt"), "extra\n");
  const driver = new QemuDriver({ ...base("standing"), snapshots: undefined, standingMounts: [{ source: runner, target: "/runner" }], warmPool: { classes: parseWarmClasses("2c4g=1..1") } });
  await driver.probe();
  const run = async (tag: string, mounts: { source: string; target: string }[], script: string) => {
    await driver.warm!.settled();
    const spec = { jobId: `stand${tag}`, attempt: 1, command: ["sh", "-c", script], env: {}, dir: join(state, `stand-${tag}`), requirements: req, mounts };
    const inst = await driver.prepare(spec);
    const out = capture();
    const res = await (await driver.start(inst, spec, out.sink)).exited;
    await driver.destroy(inst);
    return { warm: typeof inst.meta.warmVm === "string", code: res.exitCode, out: out.text("out") };
  };
  expect(await run("a", [{ source: runner, target: "/runner" }], "/runner/run.sh")).toEqual({ warm: true, code: 0, out: "runner here\n" });
  expect(await run("b", [], "[ -e /runner/run.sh ] && echo visible || echo hidden")).toEqual({ warm: true, code: 0, out: "hidden\n" });
  expect(await run("c", [{ source: runner, target: "/runner" }, { source: extra, target: "/mnt/extra" }], "/runner/run.sh; cat /mnt/extra/x.txt")).toEqual({ warm: false, code: 0, out: "runner here\nextra\n" });
  await driver.close();
}, 120_000);

test("kill -9 of an agent with a warm pool: the next driver over its state lists its warm VM and destroys it (reaper)", async () => {
  const crashOwner = `${owner}-crash`;
  const agent = Bun.spawn([process.execPath, "run", join(import.meta.dir, "fixtures/warm-agent.ts"), join(state, "crash"), join(state, "snapshots"), crashOwner], { stdout: "pipe", stderr: "inherit" });
  const reader = agent.stdout.getReader();
  let said = "";
  while (!said.includes("ready")) said += new TextDecoder().decode((await reader.read()).value ?? new Uint8Array());
  expect(said).toContain("ready 1");
  agent.kill("SIGKILL");
  await agent.exited;
  expect(qemuPids(crashOwner).length).toBe(1); // the warm VM outlived its agent

  const next = new QemuDriver({ ...base("crash"), owner: crashOwner });
  const found = await next.list();
  expect(found.map((i) => i.name)).toEqual([expect.stringMatching(/^nimbus-warm-/)]);
  for (const inst of found) await next.destroy(inst);
  expect(qemuPids(crashOwner)).toEqual([]);
  expect(await next.list()).toEqual([]);
  expect(readdirSync(join(state, "crash", "warm"))).toEqual([]);
}, 60_000);

let conformanceDriver: QemuDriver | undefined;
runDriverConformance({
  name: "qemu with a warm pool",
  timeoutMs: 60_000,
  driver: async () => {
    conformanceDriver = new QemuDriver({ ...base("conf"), warmPool: { classes: parseWarmClasses("2c4g=1..1") } });
    await conformanceDriver.probe();
    await conformanceDriver.warm!.settled();
    return conformanceDriver;
  },
});

afterAll(async () => {
  await conformanceDriver?.close();
  expect(qemuPids(owner)).toEqual([]);
  rmSync(state, { recursive: true, force: true });
}, 60_000); // closing a warm pool may wait for a VM still booting behind the last take
