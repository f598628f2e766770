/**
 * kill -9 of an agent with a running VM, then a new driver over the same state: the VM is found
 * (even with its record gone, by its process), destroyed with its tap, lease and disks, and nothing
 * bearing the job's id remains.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { HostNetwork } from "../../agent/net/network.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-reaper-"));
const netns = `nmbt-r-${Math.random().toString(36).slice(2, 7)}`;

afterAll(async () => {
  await Bun.spawn(["ip", "netns", "del", netns]).exited;
  rmSync(dir, { recursive: true, force: true });
});

function processesMentioning(text: string): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}

test("after kill -9 of the agent, the VM, its tap, lease and disks are reaped", async () => {
  await ensureVmAssets();
  await Bun.spawn(["ip", "netns", "add", netns]).exited;
  const jobDir = join(dir, "job");
  const agent = Bun.spawn([process.execPath, "run", join(import.meta.dir, "fixtures/crash-agent.ts"), dir, jobDir, netns, "nmbtrb0"], { stdout: "pipe", stderr: "inherit" });
  const reader = agent.stdout.getReader();
  let said = "";
  while (!said.includes("running")) said += new TextDecoder().decode((await reader.read()).value ?? new Uint8Array());
  const name = said.trim().split(" ")[1]!;
  agent.kill("SIGKILL");
  await agent.exited;

  expect(processesMentioning(`guest=${name}`).length).toBe(1);
  rmSync(join(dir, "qemu", `${name}.json`)); // the crash also lost the record: only the process is left

  const network = new HostNetwork({ dbPath: join(dir, "net.sqlite"), bridge: "nmbtrb0", subnet: "10.89.0.0/24", policy: { hostPorts: [] }, netns });
  const tap = network.store.get(name)!.tap;
  expect(await network.host.linkExists(tap)).toBe(true);
  const driver = new QemuDriver({ stateDir: join(dir, "qemu"), owner: "crashy", network, netns, accel: "tcg" });
  expect(await new QemuDriver({ stateDir: join(dir, "other"), owner: "someone-else", accel: "tcg" }).list()).toEqual([]);
  const found = await driver.list();
  expect(found.map((i) => [i.name, i.jobId, i.attempt, i.meta.orphan])).toEqual([[name, "crash1", 1, true]]);
  for (const inst of found) await driver.destroy(inst);

  expect(processesMentioning(`guest=${name}`)).toEqual([]);
  expect(await network.host.linkExists(tap)).toBe(false);
  expect(network.store.all()).toEqual([]);
  expect(existsSync(join(jobDir, "qemu"))).toBe(false);
  expect(await driver.list()).toEqual([]);
  network.store.close();
}, 90_000);
