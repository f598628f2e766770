/**
 * The firecracker driver: one Firecracker microVM per job, configured over its API socket (boot
 * source, drives, NIC, machine config, InstanceStart; snapshot load for the warm path), optionally
 * under the jailer. The guest side (init, config disk, console framing, job disk) is the same as
 * the qemu driver's, so the conformance scenarios exercise it there; Firecracker needs KVM.
 */
import { accessSync, chownSync, constants, existsSync, linkSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { AppError, errorMessage } from "../../../src/core/errors.ts";
import { ensureJobDisk, writeConfigDisk } from "../../guest/host/disks.ts";
import { mountDisks, type MountDisk } from "../../guest/host/mount-disks.ts";
import { findVmmProcesses, InstanceRecords, isAlive, killAndWait, listInstances } from "../../guest/host/records.ts";
import { spawnVm, type VmProcess } from "../../guest/host/vmm.ts";
import type { VmNetwork } from "../../net/types.ts";
import { loadVmAssets, type VmAssets } from "../../../src/vm/assets.ts";
import { shapeFor } from "../qemu/options.ts";
import type { Driver, Execution, Instance, OutputSink, ProbeResult, RunSpec } from "../types.ts";
import { instanceName } from "../types.ts";
import { FirecrackerApi } from "./api.ts";
import { directLaunch, jailedLaunch, type JailerOptions, type Launch } from "./jailer.ts";
import { bootRequests, firecrackerBootArgs, instanceStart, mmdsPut, snapshotLoad, type FcPlan } from "./requests.ts";
import { CONFIG_DISK_BYTES, encodeGuestConfig, type GuestConfig, type GuestNet } from "../../guest/host/config.ts";

export interface FirecrackerSnapshot {
  snapshotPath: string;
  memPath: string;
}

export interface FirecrackerDriverOptions {
  stateDir: string;
  assetsDir?: string;
  assets?: VmAssets;
  binary?: string;
  jailer?: JailerOptions;
  maxVcpus?: number;
  maxMemoryMiB?: number;
  jobDiskGiB?: number;
  /** Where the read-only images of jobs' mounts are kept. Default `<stateDir>/mounts`. */
  mountCacheDir?: string;
  rootfs?: (spec: RunSpec) => Promise<string>;
  network?: VmNetwork;
  /** A snapshot of this shape to load instead of booting. */
  snapshot?: (vcpus: number, memoryMiB: number) => Promise<FirecrackerSnapshot | undefined>;
  bootTimeoutMs?: number;
  /**
   * How the guest gets its job config: "disk" (the config disk, as under QEMU; default) or "mmds"
   * (Firecracker's metadata service, V2, on the guest's NIC: needs `network`; the config disk stays
   * blank, and the service is emptied once the guest has read it, before the job starts). A config
   * too big for MMDS's data store goes on the disk. Jobs with MMDS config boot (no snapshot).
   */
  jobConfig?: "disk" | "mmds";
}

/** Firecracker's default MMDS data store limit (--mmds-size-limit), with room for the JSON around it. */
const MMDS_CONFIG_MAX = 51_200 - 1_024;

interface FcMeta {
  vmDir: string; rootfs: string; vcpus: number; memoryMiB: number; tap?: string; mac?: string; mounts?: MountDisk[];
  /** The guest's network settings (no secrets: the config itself is rebuilt from the spec at start). */
  net?: GuestNet;
  configVia?: "disk" | "mmds";
  [k: string]: unknown;
}

export class FirecrackerDriver implements Driver {
  readonly name = "firecracker";
  private readonly live = new Map<string, VmProcess>();
  private readonly records: InstanceRecords;

  constructor(private readonly opts: FirecrackerDriverOptions) {
    if (opts.jobConfig === "mmds" && !opts.network) throw new AppError("validation_failed", "firecracker: job config over MMDS needs guest networking (MMDS answers on the guest's NIC)");
    this.records = new InstanceRecords(opts.stateDir);
  }

  private get binary(): string {
    return this.opts.binary ?? "firecracker";
  }

  private assets(): VmAssets {
    return this.opts.assets ?? loadVmAssets(this.opts.assetsDir);
  }

  async probe(): Promise<ProbeResult> {
    const path = Bun.which(this.binary);
    if (!path) return { ok: false, detail: `${this.binary} not found (install a Firecracker release binary)` };
    if (this.opts.jailer && !Bun.which(this.opts.jailer.binary ?? "jailer")) return { ok: false, detail: "jailer not found" };
    try {
      accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
      const a = this.assets();
      if (!a.vmlinux) return { ok: false, detail: "no uncompressed vmlinux in the VM assets (install lz4 and rebuild them)" };
    } catch (e) {
      return { ok: false, detail: `firecracker needs KVM and VM assets: ${errorMessage(e)}` };
    }
    return { ok: true, detail: `firecracker at ${path}${this.opts.jailer ? " under the jailer" : ""}` };
  }

  async prepare(spec: RunSpec): Promise<Instance> {
    const name = instanceName(spec.jobId, spec.attempt);
    const vmDir = join(spec.dir, "firecracker");
    mkdirSync(vmDir, { recursive: true });
    const rootfs = this.opts.rootfs ? await this.opts.rootfs(spec) : this.assets().rootfs;
    await ensureJobDisk(join(vmDir, "job.ext4"), this.opts.jobDiskGiB ?? 16);
    const mounts = await mountDisks(this.opts.mountCacheDir ?? join(this.opts.stateDir, "mounts"), spec.mounts);
    const attached = await this.opts.network?.attach(name);
    const net: GuestNet | undefined = attached && { ip: attached.ip, gateway: attached.gateway, dns: attached.dns, mac: attached.mac };
    const cfg = guestConfig(name, spec, net, mounts);
    const configVia = this.opts.jobConfig === "mmds" && net && (encodeGuestConfig(cfg).length * 4) / 3 < MMDS_CONFIG_MAX ? "mmds" : "disk";
    if (configVia === "mmds") writeFileSync(join(vmDir, "config.img"), new Uint8Array(CONFIG_DISK_BYTES), { mode: 0o600 });
    else await writeConfigDisk(join(vmDir, "config.img"), cfg);
    const meta: FcMeta = { vmDir, rootfs, ...shapeFor(spec.requirements, this.opts), tap: attached?.tap, mac: attached?.mac, mounts, net, configVia };
    const inst: Instance = { driver: this.name, name, jobId: spec.jobId, attempt: spec.attempt, dir: spec.dir, meta };
    this.records.save(inst);
    return inst;
  }

  private launch(inst: Instance): Launch {
    const m = inst.meta as FcMeta;
    return this.opts.jailer ? jailedLaunch(this.binary, inst.name, this.opts.jailer) : directLaunch(this.binary, inst.name, m.vmDir);
  }

  /** The boot plan with paths relative to the launch root; shared files are linked in. */
  plan(inst: Instance, launch: Launch): FcPlan {
    const m = inst.meta as FcMeta;
    const a = this.assets();
    if (!a.vmlinux) throw new AppError("unavailable", "no uncompressed vmlinux in the VM assets");
    mkdirSync(launch.root, { recursive: true });
    // Direct: shared files by absolute path, per-job disks relative to the cwd (the VM dir), so a
    // snapshot restores against the restoring instance's own disks. Jailed: all inside the chroot.
    const jailed = launch.root !== m.vmDir;
    const shared = (src: string, as: string) => (jailed ? linkInto(launch.root, src, as) : src);
    // The jailed VMM runs as the jailer's uid/gid: the job's own disks become that user's (read-write).
    const j = this.opts.jailer;
    const own = (file: string) => (jailed && j ? ownedBy(linkInto(launch.root, join(m.vmDir, file), file), launch.root, j.uid, j.gid) : file);
    return {
      vcpus: m.vcpus,
      memoryMiB: m.memoryMiB,
      kernel: shared(a.vmlinux, "vmlinux"),
      initramfs: shared(a.initramfs, "initramfs.cpio"),
      rootfs: shared(m.rootfs, "rootfs.ext4"),
      jobDisk: own("job.ext4"),
      configDisk: own("config.img"),
      bootArgs: firecrackerBootArgs("run", m.configVia),
      net: m.tap && m.mac ? { tap: m.tap, mac: m.mac } : undefined,
      mounts: m.mounts?.map((d) => ({ id: d.id, image: shared(d.image, `${d.id}.ext4`) })),
    };
  }

  async start(inst: Instance, spec: RunSpec, sink: OutputSink): Promise<Execution> {
    if (isAlive(this.live.get(inst.name)?.pid)) throw new AppError("conflict", `${inst.name} is already running`);
    const m = inst.meta as FcMeta;
    const launch = this.launch(inst);
    const plan = this.plan(inst, launch);
    if (m.configVia === "mmds") plan.mmdsConfig = encodeGuestConfig(guestConfig(inst.name, spec, m.net, m.mounts ?? []));
    rmSync(launch.socket, { force: true });
    const vm = spawnVm(launch.argv, sink, { cwd: launch.root });
    this.live.set(inst.name, vm);
    try {
      const api = new FirecrackerApi(launch.socket);
      await api.waitReady();
      // A snapshot's drives are fixed when it is taken, and its guest reads the config disk: a job with
      // mounts or an MMDS config boots.
      const snap = plan.mounts?.length || plan.mmdsConfig !== undefined ? undefined : await this.opts.snapshot?.(plan.vcpus, plan.memoryMiB);
      if (snap) await api.send(snapshotLoad(snap.snapshotPath, snap.memPath, plan.net?.tap));
      else await configureAndStart(api, plan, vm, this.opts.bootTimeoutMs ?? 10_000);
      if (plan.mmdsConfig !== undefined) void emptyMmdsOnceRead(api, vm, this.opts.bootTimeoutMs ?? 10_000);
    } catch (e) {
      vm.kill();
      await vm.exited;
      throw e;
    }
    this.records.save({ ...inst, pid: vm.pid });
    return { pid: vm.pid, exited: vm.exited };
  }

  async stop(inst: Instance): Promise<void> {
    const vm = this.live.get(inst.name);
    if (vm) {
      vm.kill();
      await vm.exited;
      this.live.delete(inst.name);
    }
    for (const p of findVmmProcesses("firecracker").filter((p) => p.name === inst.name)) await killAndWait(p.pid);
    if (inst.pid && !vm) await killAndWait(inst.pid).catch(() => undefined);
  }

  async destroy(inst: Instance): Promise<void> {
    await this.stop(inst);
    await this.opts.network?.detach(inst.name);
    rmSync((inst.meta as Partial<FcMeta>).vmDir ?? join(inst.dir, "firecracker"), { recursive: true, force: true });
    if (this.opts.jailer) rmSync(join(this.opts.jailer.chrootBase, basename(this.binary), inst.name), { recursive: true, force: true });
    this.records.remove(inst.name);
  }

  async list(): Promise<Instance[]> {
    return listInstances(this.name, this.records, findVmmProcesses("firecracker"));
  }
}

/** The boot sequence over the API; resolves once the guest's userspace is up. */
export async function configureAndStart(api: FirecrackerApi, plan: FcPlan, vm: Pick<VmProcess, "ready">, timeoutMs: number): Promise<void> {
  await api.sendAll(bootRequests(plan));
  await api.send(instanceStart);
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new AppError("unavailable", `guest did not reach userspace in ${timeoutMs} ms`)), timeoutMs)));
  try {
    await Promise.race([vm.ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function guestConfig(name: string, spec: RunSpec, net: GuestNet | undefined, mounts: MountDisk[]): GuestConfig {
  return { hostname: name, command: spec.command, env: spec.env, net, mounts, ...spec.guest };
}

/**
 * The guest read its config from MMDS (its `mmds` timing mark) and waits: empty the data store, so
 * the job cannot read the config (and its secrets) back, then let the guest go on. A guest that
 * never gets there is stopped by its boot timeout; one whose MMDS cannot be emptied is stopped.
 */
export async function emptyMmdsOnceRead(api: FirecrackerApi, vm: Pick<VmProcess, "marks" | "ring" | "kill">, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!vm.marks.some((m) => m.stage === "mmds")) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(5);
  }
  try {
    await api.send(mmdsPut(null));
  } catch {
    vm.kill();
    return false;
  }
  vm.ring("go");
  return true;
}

function ownedBy(name: string, root: string, uid: number, gid: number): string {
  chownSync(join(root, name), uid, gid);
  return name;
}

/** Hard-links (or copies across filesystems) `src` into `root` as `name`; returns the relative name. */
function linkInto(root: string, src: string, name: string): string {
  const dst = join(root, name);
  if (!existsSync(dst)) {
    try {
      linkSync(src, dst);
    } catch {
      copyFileSync(src, dst);
    }
  }
  return name;
}
