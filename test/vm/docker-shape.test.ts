/**
 * The docker shape, without a VM: warm classes `SIZE+docker` (settings, schedule), the requirements
 * a docker class's VMs are made for, the kernel argument that has a warm or template VM start
 * dockerd before it waits, and the shape key that keeps docker and plain VMs apart (the VMs
 * themselves: docker-warm.test.ts).
 */
import { expect, test } from "bun:test";
import { kernelCmdline, type LaunchPlan } from "../../agent/drivers/qemu/args.ts";
import { shapeKey } from "../../agent/drivers/qemu/snapshot.ts";
import { vmRequirements } from "../../agent/drivers/qemu/warm.ts";
import { parseWarmClasses, parseWarmSchedule, scheduledMin, warmClassName } from "../../src/agents/warm-schedule.ts";

test("warm classes: SIZE+docker is a class of its own beside SIZE; errors name the entry", () => {
  const classes = parseWarmClasses("2c4g=1..2, 2c4g+docker=0..1");
  expect(classes).toEqual([{ sizeClass: "2c4g", min: 1, max: 2 }, { sizeClass: "2c4g", docker: true, min: 0, max: 1 }]);
  expect(classes.map(warmClassName)).toEqual(["2c4g", "2c4g+docker"]);
  expect(() => parseWarmClasses("2c4g+docker=0..1,2c4g+docker=1..1")).toThrow('"2c4g+docker=1..1": 2c4g+docker is given twice');
  expect(() => parseWarmClasses("9c9g+docker=0..1")).toThrow("unknown size class 9c9g");
  expect(() => parseWarmClasses("2c4g+gpu=0..1")).toThrow("expected CLASS=MIN..MAX, e.g. 2c4g=1..3 or 2c4g+docker=0..2");
});

test("a schedule entry for SIZE+docker raises only the docker class's minimum", () => {
  const [plain, docker] = parseWarmClasses("2c4g=0..4,2c4g+docker=0..4");
  const schedule = parseWarmSchedule("2c4g+docker mon-fri 08:00-18:00 min=2");
  expect(schedule[0]).toMatchObject({ sizeClass: "2c4g", docker: true, min: 2 });
  const monday10 = new Date(2026, 10, 30, 10, 0);
  expect(scheduledMin(docker!, schedule, monday10)).toBe(2);
  expect(scheduledMin(plain!, schedule, monday10)).toBe(0);
});

test("a docker class's VMs are made for docker jobs; a plain class's are not", () => {
  expect(vmRequirements("2c4g+docker")).toMatchObject({ isolation: "vm", docker: true, size: { name: "2c4g" } });
  expect(vmRequirements("2c4g")).toMatchObject({ docker: false });
});

const plan = (p: Partial<LaunchPlan>): LaunchPlan => ({
  name: "nimbus-template-0", accel: "tcg", vcpus: 1, memoryMiB: 1024, kernel: "k", initramfs: "i", rootfs: "r", jobDisk: "j", configDisk: "c", qmpSocket: "q", pidFile: "p", mode: "template", ...p,
});

test("warm and template VMs of the docker shape start dockerd before they wait; a cold docker job starts it from its config", () => {
  expect(kernelCmdline(plan({ mode: "template", docker: true }))).toEndWith("nimbus.mode=template nimbus.docker=1");
  expect(kernelCmdline(plan({ mode: "warm", docker: true }))).toEndWith("nimbus.mode=warm nimbus.docker=1");
  expect(kernelCmdline(plan({ mode: "run", docker: true }))).not.toContain("nimbus.docker");
  expect(kernelCmdline(plan({ mode: "template" }))).not.toContain("nimbus.docker");
});

test("the docker shape has its own shape key (its own snapshot and warm VMs)", () => {
  const plain = shapeKey(plan({}), 16);
  const docker = shapeKey(plan({ docker: true }), 16);
  expect(docker).not.toBe(plain);
  expect(docker).toBe(plain.replace("-nonic-", "-nonic-docker-"));
});

test("an agent given a +docker warm class while its active image has no Docker refuses to start, naming the key; with the ci image active it starts", async () => {
  const { loadConfig } = await import("../../src/core/config/load.ts");
  const { agentSettings } = await import("../../src/agents/settings.ts");
  const { driversFor } = await import("../../agent/drivers/select.ts");
  const { ImageStore } = await import("../../agent/images/store.ts");
  const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const root = mkdtempSync(join(tmpdir(), "nimbus-docker-class-"));
  const env = { NIMBUS_AGENT_TOKEN: "t".repeat(24), NIMBUS_AGENT_DIR: join(root, "agent"), NIMBUS_VM_NETWORK: "none", NIMBUS_AGENT_DRIVERS: "qemu", NIMBUS_IMAGES_DIR: join(root, "images"), NIMBUS_VM_WARM_POOL: "2c4g=0..1,2c4g+docker=0..1" };
  const config = loadConfig(agentSettings, env);
  expect(() => driversFor(config, "agent-d")).toThrow("NIMBUS_VM_WARM_POOL: 2c4g+docker: a +docker class needs an active image that carries Docker (the ci image: nimbus images build ci --activate)");
  // The same settings with an image that carries Docker active (its record says so, as `images build` writes it).
  const store = new ImageStore(join(root, "images"));
  writeFileSync(store.pathOf("d".repeat(64)), "");
  store.record({ version: "ci", digest: "d".repeat(64), sizeBytes: 0, builtAt: new Date(0).toISOString(), docker: true });
  store.activate("ci");
  expect(driversFor(config, "agent-d").byIsolation.get("vm")!.name).toBe("qemu");
  expect(() => driversFor(loadConfig(agentSettings, { ...env, NIMBUS_VM_WARM_POOL: "2c4g=0..1" }), "agent-e")).not.toThrow();
  rmSync(root, { recursive: true, force: true });
});
