/** What the qemu driver records about a VM (Instance.meta), and where its files live in its directory. */
import { join } from "node:path";
import type { MountDisk } from "../../guest/host/mount-disks.ts";
import type { Snapshot } from "./snapshot.ts";

export interface QemuMeta {
  vmDir: string;
  rootfs: string;
  vcpus: number;
  memoryMiB: number;
  tap?: string;
  mac?: string;
  ip?: string;
  /** The job disk was copied from this snapshot's: start restores it. */
  snapshot?: Snapshot;
  /** The warm VM (its QEMU process and tap are named after it) this job took. */
  warmVm?: string;
  /** Read-only disks attached to the VM: the driver's standing mounts, then the job's other mounts. */
  mounts?: MountDisk[];
  /** Which of them the job mounts (its config lists these). */
  mountIds?: string[];
  /** The docker shape: a warm or template VM of it runs dockerd before it waits (LaunchPlan.docker). */
  docker?: boolean;
  [k: string]: unknown;
}

export function vmPaths(vmDir: string) {
  return {
    jobDisk: join(vmDir, "job.ext4"),
    configDisk: join(vmDir, "config.img"),
    qmpSocket: join(vmDir, "qmp.sock"),
    pidFile: join(vmDir, "qemu.pid"),
  };
}
