/**
 * MicroVM latency benchmark: per driver, launch -> guest userspace, launch -> job exec, and
 * snapshot restore -> job exec, p50 over repeated runs, with whether KVM was used.
 *
 *   bun run scripts/bench/vm.ts [--runs 5]
 *
 * "launch" is the moment the VMM process is spawned; "guest userspace" is the guest init's ready
 * record on the console; "job exec" is the job's first output line (the job is `echo exec`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FirecrackerDriver } from "../../agent/drivers/firecracker/driver.ts";
import { qemuArgs } from "../../agent/drivers/qemu/args.ts";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { restoreVm } from "../../agent/drivers/qemu/snapshot.ts";
import { spawnVm, type VmProcess } from "../../agent/guest/host/vmm.ts";
import { SnapshotPool } from "../../agent/pool/snapshots.ts";
import type { OutputSink } from "../../agent/drivers/types.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { ensureVmAssets } from "../vm/build-assets.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-vm-"));
const req = parseLabels(["nimbus"]);

function p50(xs: number[]): string {
  if (xs.length === 0) return "-";
  const s = [...xs].sort((a, b) => a - b);
  return `${Math.round(s[Math.floor((s.length - 1) / 2)]!)} ms`;
}

/** Runs one VM for `echo exec`; returns ms to userspace (cold only) and to the job's first output. */
async function once(driver: QemuDriver, n: number, launch: (plan: Awaited<ReturnType<QemuDriver["plan"]>>, sink: OutputSink) => Promise<VmProcess>) {
  const spec = { jobId: `bench${n}`, attempt: 1, command: ["echo", "exec"], env: {}, dir: join(dir, `job${n}-${Math.random().toString(36).slice(2, 6)}`), requirements: req };
  const inst = await driver.prepare(spec);
  const plan = await driver.plan(inst, "run");
  let execAt = 0;
  const t0 = performance.now();
  const vm = await launch(plan, (s, text) => void (s === "out" && text.includes("exec") && !execAt && (execAt = performance.now())));
  const readyAt = await Promise.race([vm.ready.then(() => performance.now(), () => 0), vm.exited.then(() => 0)]);
  const res = await vm.exited;
  await driver.destroy(inst);
  if (res.exitCode !== 0 || !execAt) throw new Error(`bench run ${n} failed: exit ${res.exitCode}`);
  return { userspace: readyAt ? readyAt - t0 : undefined, exec: execAt - t0 };
}

async function main() {
  await ensureVmAssets();
  const pool = new SnapshotPool({ dir: join(dir, "snapshots"), jobDiskGiB: 2 });
  const driver = new QemuDriver({ stateDir: join(dir, "state"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2 });
  const accel = await driver.accel();
  const cold = { userspace: [] as number[], exec: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const r = await once(driver, i, async (plan, sink) => spawnVm(qemuArgs(plan, driver.binary), sink));
    cold.userspace.push(r.userspace!);
    cold.exec.push(r.exec);
  }
  const snap = await pool.prepare(await driver.planFor(req));
  const restored: number[] = [];
  for (let i = 0; i < runs; i++) restored.push((await once(driver, 100 + i, (plan, sink) => restoreVm(plan, snap, driver.binary, sink))).exec);

  const fc = await new FirecrackerDriver({ stateDir: join(dir, "fc") }).probe();
  const rows = [
    ["driver", "KVM", "launch → guest userspace", "launch → job exec", "snapshot restore → job exec", "runs"],
    ["qemu (-M microvm)", accel === "kvm" ? "yes" : "no (TCG)", p50(cold.userspace), p50(cold.exec), p50(restored), `${runs}`],
    ["firecracker", "-", fc.ok ? "not measured" : "cannot run here", "-", "-", fc.ok ? "0" : `(${fc.detail})`],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(widths[c]!)).join(" | "));
  console.log(`\nraw (ms): cold userspace ${cold.userspace.map(Math.round).join(", ")}; cold exec ${cold.exec.map(Math.round).join(", ")}; restore exec ${restored.map(Math.round).join(", ")}`);
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
