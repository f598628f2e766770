/**
 * The QEMU command line for one microVM (`-M microvm`), as a pure function of its launch plan.
 * Disks carry virtio serials the guest init finds them by; a virtio-serial port (`nimbus.ctl`, on a
 * unix socket beside QMP's) carries the guest's control records and the doorbell. A snapshot
 * restore must use the same command line as the template it was taken from, except for file paths
 * and `-incoming`.
 */
import { dirname, join } from "node:path";

export type Accel = "kvm" | "tcg";

export interface TapAttachment {
  tap: string;
  mac: string;
}

export interface LaunchPlan {
  name: string;
  accel: Accel;
  vcpus: number;
  memoryMiB: number;
  kernel: string;
  initramfs: string;
  rootfs: string;
  jobDisk: string;
  configDisk: string;
  qmpSocket: string;
  pidFile: string;
  /**
   * "run": the config disk holds the job. "warm": a pool VM prepares the job's root and sleeps until
   * the doorbell (agent/guest/init). "template": warm, for a snapshot. "probe": boot and power off.
   */
  mode: "run" | "warm" | "template" | "probe";
  /**
   * A NIC: on a tap, or (snapshot templates) present but on a QEMU hub port with nothing else on
   * it: a backend without migration state, so the restore can put the clone's own tap under it
   * (user-mode networking would carry its state into the snapshot and refuse the tap).
   */
  nic?: TapAttachment | "placeholder";
  /** The agent that owns this VM: tagged on the command line so list() on a shared host sees only its own. */
  owner?: string;
  /** Read-only disks the guest mounts in the job's root (agent/guest/host/mount-disks.ts). */
  mounts?: { id: string; image: string }[];
  /** Restore from a migration file instead of booting. */
  incomingFile?: string;
  /**
   * A VM for `docker` jobs: in modes "warm" and "template" the guest starts dockerd before it waits
   * (kernel argument nimbus.docker=1), so a warm or restored VM has a ready daemon. A separate shape.
   */
  docker?: boolean;
}

/**
 * How long a boot may take to reach userspace (a warm or template VM: to wait for a job). The
 * docker shape's warm and template VMs also start dockerd first: about a minute under software
 * emulation on a busy host, so they get longer.
 */
export function bootTimeoutMs(plan: Pick<LaunchPlan, "accel" | "mode" | "docker">): number {
  const docker = plan.docker && (plan.mode === "warm" || plan.mode === "template");
  if (plan.accel === "kvm") return docker ? 30_000 : 10_000;
  return docker ? 240_000 : 60_000;
}

/** Software emulation cannot calibrate the guest clock; these make TCG boots reliable and faster. */
export const TCG_KERNEL_ARGS = "tsc_early_khz=2000000 tsc=reliable no_timer_check cryptomgr.notests initcall_blacklist=cmos_init,init_kprobe_trace";

export function kernelCmdline(plan: Pick<LaunchPlan, "accel" | "mode" | "docker">): string {
  const base = "console=ttyS0 quiet loglevel=1 panic=-1 reboot=t random.trust_cpu=on";
  // A cold docker job starts dockerd from its config ("docker 1"); a warm or template VM has none yet.
  const docker = plan.docker && (plan.mode === "warm" || plan.mode === "template") ? "nimbus.docker=1" : "";
  return [base, plan.accel === "tcg" ? TCG_KERNEL_ARGS : "", `nimbus.mode=${plan.mode}`, docker].filter(Boolean).join(" ");
}

function disk(id: string, file: string, readonly: boolean): string[] {
  const ro = readonly ? ",readonly=on" : "";
  return ["-drive", `id=${id},file=${file},format=raw,if=none,cache=unsafe${ro}`, "-device", `virtio-blk-device,drive=${id},serial=nimbus-${id}`];
}

function nic(n: LaunchPlan["nic"]): string[] {
  if (!n) return [];
  const dev = n === "placeholder" ? "-netdev hubport,id=net0,hubid=0" : `-netdev tap,id=net0,ifname=${n.tap},script=no,downscript=no`;
  const mac = n === "placeholder" ? "52:54:00:00:00:01" : n.mac;
  return [...dev.split(" "), "-device", `virtio-net-device,netdev=net0,mac=${mac}`];
}

/** The control channel's socket lives beside the QMP socket (the guest's port is `nimbus.ctl`). */
export function controlSocketOf(plan: Pick<LaunchPlan, "qmpSocket">): string {
  return join(dirname(plan.qmpSocket), "ctl.sock");
}

export function qemuArgs(plan: LaunchPlan, binary = "qemu-system-x86_64"): string[] {
  const cpu = plan.accel === "kvm" ? "host" : "max";
  return [
    binary,
    "-name", `guest=${plan.name},process=${plan.name}`,
    "-M", "microvm,x-option-roms=off,rtc=off,isa-serial=on",
    "-accel", plan.accel, "-cpu", cpu,
    "-m", `${plan.memoryMiB}`, "-smp", `${plan.vcpus}`,
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-serial", "stdio",
    "-kernel", plan.kernel, "-initrd", plan.initramfs, "-append", kernelCmdline(plan),
    ...disk("root", plan.rootfs, true),
    ...disk("job", plan.jobDisk, false),
    ...disk("config", plan.configDisk, true),
    ...(plan.mounts ?? []).flatMap((m) => disk(m.id, m.image, true)),
    ...nic(plan.nic),
    "-device", "virtio-serial-device,max_ports=2",
    "-chardev", `socket,id=ctl,path=${controlSocketOf(plan)},server=on,wait=off`,
    "-device", "virtserialport,chardev=ctl,name=nimbus.ctl",
    "-qmp", `unix:${plan.qmpSocket},server=on,wait=off`,
    "-pidfile", plan.pidFile,
    ...(plan.owner ? ["-fw_cfg", ownerTag(plan.owner)] : []),
    ...(plan.incomingFile ? ["-incoming", `exec:cat ${shellQuote(plan.incomingFile)}`] : []),
  ];
}

/** A fw_cfg blob the guest ignores; it marks the process as this owner's. */
export function ownerTag(owner: string): string {
  return `name=opt/nimbus/owner,string=${owner.replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}
