/**
 * The warm path: a snapshot of a template VM (booted in "wait" mode, migrated to a file) is
 * restored for each job, which then runs from its own config disk and job disk. The whole driver
 * conformance suite runs again on restored VMs. How much faster a restore is than a cold boot is
 * measured by scripts/bench/vm.ts (both in the same run), not asserted here.
 */
import { beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
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

test("a job restored from a snapshot runs, with its own config and disk: QEMU starts from the snapshot file, it does not boot", async () => {
  for (const n of [1, 2]) {
    // The trailing sleep keeps the VM up while its command line is read (the job itself is done by then).
    const spec = { jobId: `snap${n}${Date.now().toString(36)}`, attempt: 1, command: ["sh", "-c", `echo job $N > ~/f; cat ~/f; df -k / | tail -n1; sleep 1`], env: { N: `${n}` }, dir: join(state, `job${n}`), requirements: parseLabels(["nimbus"]) };
    const inst = await driver.prepare(spec);
    const out = capture();
    const exec = await driver.start(inst, spec, out.sink);
    const file = pool.fileFor(await driver.planFor(spec.requirements));
    const argv = readFileSync(`/proc/${exec.pid}/cmdline`, "utf8").split("\0");
    expect(argv).toContain("-incoming");
    expect(argv[argv.indexOf("-incoming") + 1]).toContain(file);
    const res = await exec.exited;
    expect(res.exitCode).toBe(0);
    expect(out.text("out")).toContain(`job ${n}`);
    expect(((await driver.list()).find((i) => i.name === inst.name)?.meta.snapshot as { file: string }).file).toBe(file);
    await driver.destroy(inst);
  }
}, 60_000);

runDriverConformance({
  name: "qemu restored from a snapshot",
  timeoutMs: 60_000,
  driver: () => new QemuDriver({ stateDir: join(state, "qemu-conf"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, snapshots: pool }),
});
