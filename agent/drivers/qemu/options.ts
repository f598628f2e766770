/** Options of the qemu driver, and how a job's size label becomes vCPUs and memory. */
import { cpus } from "node:os";
import type { Requirements } from "../../../src/jobs/labels.ts";
import type { VmNetwork } from "../../net/types.ts";
import type { RunSpec } from "../types.ts";
import type { AccelSetting } from "./accel.ts";
import type { VmAssets } from "../../../src/vm/assets.ts";
import type { SnapshotSource } from "./snapshot.ts";
import type { WarmPoolOptions } from "../../pool/warm.ts";

export interface QemuDriverOptions {
  /** The owning agent's id: list() and the reaper then only see this agent's VMs on a shared host. */
  owner?: string;
  /** Where instance records live (one JSON per instance); e.g. `<agent state>/qemu`. */
  stateDir: string;
  /** Directory with manifest.json (default artifacts/vm); or `assets` given directly. */
  assetsDir?: string;
  assets?: VmAssets;
  binary?: string;
  /** "auto" probes KVM with a short boot and falls back to software emulation (TCG). */
  accel?: AccelSetting;
  /** Caps on what a size label asks for (small hosts, tests). */
  maxVcpus?: number;
  maxMemoryMiB?: number;
  /**
   * Host directories attached to every VM (warm, restored and cold alike), e.g. the GitHub runner:
   * a job that mounts only these can take a warm VM or a snapshot. The guest mounts only what a job
   * asks for.
   */
  standingMounts?: { source: string; target: string }[];
  /** Where the read-only images of jobs' mounts are kept (shared by VMs). Default `<stateDir>/mounts`. */
  mountCacheDir?: string;
  /** Size of each job's writable disk (sparse). Default 16. */
  jobDiskGiB?: number;
  /** Resolves the rootfs image for a job (the images pipeline verifies its digest); default: the manifest's. */
  rootfs?: (spec: RunSpec) => Promise<string>;
  /** Host networking: a tap and addresses per instance. Without it the guest has loopback only. */
  network?: VmNetwork;
  /** Run QEMU inside this network namespace (where `network` made the taps; tests). */
  netns?: string;
  /** Snapshots to restore instead of booting (warm path). */
  snapshots?: SnapshotSource;
  /** VMs started ahead per size class: a job whose shape matches takes one at prepare (agent/pool/warm.ts). */
  warmPool?: WarmPoolOptions;
  /** How long a cold boot may take to reach guest userspace. Default 60 s (TCG) / 10 s (KVM); a docker warm VM 240 s / 30 s (args.ts bootTimeoutMs). */
  bootTimeoutMs?: number;
}

export interface VmShape {
  vcpus: number;
  memoryMiB: number;
}

export function shapeFor(req: Requirements, opts: Pick<QemuDriverOptions, "maxVcpus" | "maxMemoryMiB">): VmShape {
  const vcpus = Math.max(1, Math.min(req.size.vcpus, opts.maxVcpus ?? cpus().length));
  const memoryMiB = Math.max(128, Math.min(req.size.memoryGb * 1024, opts.maxMemoryMiB ?? Number.POSITIVE_INFINITY));
  return { vcpus, memoryMiB };
}
