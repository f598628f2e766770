/**
 * The warm path: a snapshot of a template VM (booted in "wait" mode, migrated to a file) is
 * restored for each job, which then runs from its own config disk and job disk. The whole driver
 * conformance suite runs again on restored VMs.
 */
import { beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { SnapshotPool } from "../../agent/drivers/qemu/snapshot-pool.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { capture, runDriverConformance } from "../drivers/conformance.ts";

const state = mkdtempSync(join(tmpdir(), "nimbus-snap-"));
const pool = new SnapshotPool({ dir: join(state, "snapshots"), jobDiskGiB: 2 });
let driver: QemuDriver;

beforeAll(async () => {
  await ensureVmAssets();
  driver = new QemuDriver({ stateDir: join(state, "qemu"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, snapshots: pool });
  await pool.prepare(await driver.planFor(parseLabels(["nimbus"])));
}, 120_000);

test("a job restored from a snapshot runs, with its own config and disk, in well under a cold boot", async () => {
  const times: number[] = [];
  for (const n of [1, 2]) {
    const spec = { jobId: `snap${n}${Date.now().toString(36)}`, attempt: 1, command: ["sh", "-c", `echo job $N > ~/f; cat ~/f; df -k / | tail -n1`], env: { N: `${n}` }, dir: join(state, `job${n}`), requirements: parseLabels(["nimbus"]) };
    const inst = await driver.prepare(spec);
    const out = capture();
    const t0 = performance.now();
    const exec = await driver.start(inst, spec, out.sink);
    const res = await exec.exited;
    times.push(performance.now() - t0);
    expect(res.exitCode).toBe(0);
    expect(out.text("out")).toContain(`job ${n}`);
    expect(((await driver.list()).find((i) => i.name === inst.name)?.meta.snapshot as { file: string }).file).toBe(pool.fileFor(await driver.planFor(spec.requirements)));
    await driver.destroy(inst);
  }
  expect(Math.min(...times)).toBeLessThan(2500);
}, 60_000);

runDriverConformance({
  name: "qemu restored from a snapshot",
  timeoutMs: 60_000,
  driver: () => new QemuDriver({ stateDir: join(state, "qemu-conf"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, snapshots: pool }),
});
