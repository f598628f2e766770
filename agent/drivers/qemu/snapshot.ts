/**
 * Snapshots by migration to a file (QEMU has no Firecracker-style snapshot API for microvm):
 * a template VM boots in "template" mode (the guest mounts its job disk, prepares the job's root,
 * zeroes its free memory, then sleeps until the doorbell), is stopped once it waits, and migrated
 * with `exec:cat > FILE`; its job disk, as it was at that moment, is kept beside it
 * (`FILE.disk`). A restore gets a copy of that disk (the guest has it mounted), runs the same
 * command line plus `-incoming exec:cat FILE`, then `cont`, and rings the doorbell once the job's
 * config disk is in place. A snapshot can be restored any number of times.
 */
import { renameSync, rmSync } from "node:fs";
import { copySparse } from "../../guest/host/disks.ts";
import { AppError } from "../../../src/core/errors.ts";
import type { OutputSink } from "../types.ts";
import { bootTimeoutMs, type LaunchPlan } from "./args.ts";
import type { VmProcess } from "../../guest/host/vmm.ts";
import { spawnQemu } from "./spawn.ts";
import { Qmp } from "./qmp.ts";

export interface Snapshot {
  /** The migration stream (guest memory and device state). */
  file: string;
  /** The template's job disk at the moment of the snapshot: each restore runs on a copy of it. */
  jobDisk: string;
}

export interface SnapshotSource {
  /** A snapshot taken from a template with this plan's shape, or undefined (cold boot). */
  find(plan: LaunchPlan): Promise<Snapshot | undefined>;
  /** Stop what the source runs on its own (template builds). */
  close?(): Promise<void>;
}

/** Everything a restore must share with its template: accelerator, CPU, memory, boot files, devices. */
export function shapeKey(plan: LaunchPlan, jobDiskGiB: number): string {
  const nic = plan.nic ? "nic" : "nonic";
  // Mount images are part of the shape: a VM booted with an older runner image must not serve new jobs.
  const h = new Bun.CryptoHasher("sha256").update([plan.kernel, plan.initramfs, plan.rootfs, ...(plan.mounts ?? []).map((m) => `${m.id}=${m.image}`)].join("\n")).digest("hex").slice(0, 12);
  // A docker VM (dockerd started before it waits) is its own shape: other jobs never get its daemon.
  return `${plan.accel}-${plan.vcpus}c-${plan.memoryMiB}m-${jobDiskGiB}g-${nic}${plan.docker ? "-docker" : ""}-${h}`;
}

async function waitFor<T>(what: string, timeoutMs: number, poll: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await poll();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new AppError("unavailable", `timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

/** The restored guest has the template's job disk mounted: each restore runs on its own copy. */
export async function installJobDisk(snap: Snapshot, jobDisk: string): Promise<void> {
  await copySparse(snap.jobDisk, jobDisk);
}

/** Boots `plan` (mode "template", blank config disk) and writes its snapshot to `file` and `file.disk`. */
export async function createSnapshot(plan: LaunchPlan, file: string, binary: string, sink: OutputSink, timeoutMs = bootTimeoutMs({ ...plan, mode: "template" })): Promise<Snapshot> {
  const vm = spawnQemu({ ...plan, mode: "template", nic: plan.nic ? "placeholder" : undefined }, binary, sink);
  const timer = setTimeout(() => vm.kill(), timeoutMs);
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
    await qmp.execute("quit").catch(() => undefined);
    await vm.exited;
    await copySparse(plan.jobDisk, `${file}.disk`);
    renameSync(part, file);
    return { file, jobDisk: `${file}.disk` };
  } finally {
    clearTimeout(timer);
    vm.kill();
    await vm.exited;
    rmSync(`${file}.part`, { force: true });
  }
}

/**
 * Restores `snap` into a new VM running `plan` and resumes it; resolves once the guest runs.
 * `plan.jobDisk` must be a fresh copy of `snap.jobDisk` (see installJobDisk). With `ring`, the
 * guest is told at once that its config disk holds the job; a warm-pool VM is rung when taken.
 */
export async function restoreVm(plan: LaunchPlan, snap: Snapshot, binary: string, sink: OutputSink, opts: { wrap?: (argv: string[]) => string[]; ring?: boolean } = {}): Promise<VmProcess> {
  const vm = spawnQemu({ ...plan, mode: "template", incomingFile: snap.file }, binary, sink, opts.wrap);
  try {
    const qmp = await Qmp.connect(plan.qmpSocket);
    await waitFor("the incoming migration", 30_000, async () => {
      const s = await qmp.execute<{ status: string }>("query-status");
      if (s.status === "inmigrate") return undefined;
      if (s.status === "paused" || s.status === "postmigrate" || s.status === "prelaunch") return true;
      throw new AppError("internal", `restored VM is ${s.status}, expected paused`);
    });
    await vm.control; // the guest must not write to a control port nobody listens on
    await qmp.execute("cont");
    qmp.close();
    if (opts.ring !== false) vm.ring();
    return vm;
  } catch (e) {
    vm.kill();
    await vm.exited;
    throw e;
  }
}
