/**
 * Snapshots by migration to a file (QEMU has no Firecracker-style snapshot API for microvm):
 * a template VM boots in "wait" mode with blank disks, is stopped once its guest waits for a
 * config, and migrated with `exec:cat > FILE`. A restore runs the same command line (new disk
 * files) plus `-incoming exec:cat FILE`, then `cont`; the guest finds the job's config disk on its
 * next poll. A file can be restored any number of times.
 */
import { renameSync, rmSync } from "node:fs";
import { AppError } from "../../../src/core/errors.ts";
import type { OutputSink } from "../types.ts";
import { qemuArgs, type LaunchPlan } from "./args.ts";
import { spawnVm, type VmProcess } from "../../guest/host/vmm.ts";
import { Qmp } from "./qmp.ts";

export interface SnapshotSource {
  /** A snapshot file taken from a template with this plan's shape, or undefined (cold boot). */
  find(plan: LaunchPlan): Promise<string | undefined>;
}

/** Everything a restore must share with its template: accelerator, CPU, memory, boot files, devices. */
export function shapeKey(plan: LaunchPlan, jobDiskGiB: number): string {
  const nic = plan.nic ? "nic" : "nonic";
  const h = new Bun.CryptoHasher("sha256").update([plan.kernel, plan.initramfs, plan.rootfs].join("\n")).digest("hex").slice(0, 12);
  return `${plan.accel}-${plan.vcpus}c-${plan.memoryMiB}m-${jobDiskGiB}g-${nic}-${h}`;
}

async function waitFor<T>(what: string, timeoutMs: number, poll: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await poll();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new AppError("unavailable", `timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Boots `plan` (mode "wait", blank disks) and writes its snapshot to `file`. */
export async function createSnapshot(plan: LaunchPlan, file: string, binary: string, sink: OutputSink, bootTimeoutMs = 60_000): Promise<void> {
  const vm = spawnVm(qemuArgs({ ...plan, mode: "wait", nic: plan.nic ? "placeholder" : undefined }, binary), sink);
  const timer = setTimeout(() => vm.kill(), bootTimeoutMs);
  try {
    await Promise.race([vm.waiting, vm.exited.then(() => Promise.reject(new AppError("unavailable", "template VM ended before it was ready")))]);
    const qmp = await Qmp.connect(plan.qmpSocket);
    await qmp.execute("stop");
    const part = `${file}.part`;
    await qmp.execute("migrate", { uri: `exec:cat > '${part}'` });
    await waitFor("the snapshot migration", 60_000, async () => {
      const s = await qmp.execute<{ status?: string; "error-desc"?: string }>("query-migrate");
      if (s.status === "failed") throw new AppError("internal", `snapshot migration failed: ${s["error-desc"] ?? "unknown"}`);
      return s.status === "completed" ? true : undefined;
    });
    renameSync(part, file);
    await qmp.execute("quit").catch(() => undefined);
  } finally {
    clearTimeout(timer);
    vm.kill();
    await vm.exited;
    rmSync(`${file}.part`, { force: true });
  }
}

/** Restores `file` into a new VM running `plan` and resumes it. Resolves once the guest runs. */
export async function restoreVm(plan: LaunchPlan, file: string, binary: string, sink: OutputSink, wrap = (argv: string[]) => argv): Promise<VmProcess> {
  rmSync(plan.qmpSocket, { force: true });
  const vm = spawnVm(wrap(qemuArgs({ ...plan, mode: "wait", incomingFile: file }, binary)), sink);
  try {
    const qmp = await Qmp.connect(plan.qmpSocket);
    await waitFor("the incoming migration", 30_000, async () => {
      const s = await qmp.execute<{ status: string }>("query-status");
      return s.status === "paused" || s.status === "postmigrate" || s.status === "prelaunch" ? true : undefined;
    });
    await qmp.execute("cont");
    qmp.close();
    return vm;
  } catch (e) {
    vm.kill();
    await vm.exited;
    throw e;
  }
}
