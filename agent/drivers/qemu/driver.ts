/**
 * The qemu driver: one `-M microvm` VM per job. KVM when a probe boot shows it works, software
 * emulation (TCG) otherwise. Read-only rootfs + per-job writable disk (overlay upper layer in the
 * guest) + a config disk; the console carries framed output and the exit code; QMP for snapshots.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AppError, errorMessage } from "../../../src/core/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { writeConfigDisk, writeConfigInPlace, ensureJobDisk } from "../../guest/host/disks.ts";
import { mountDisks, vmMounts, type MountDisk } from "../../guest/host/mount-disks.ts";
import { WarmPool } from "../../pool/warm.ts";
import { warmClassName } from "../../../src/agents/warm-schedule.ts";
import { QemuWarmFactory, type QemuWarmVm } from "./warm.ts";
import type { Requirements } from "../../../src/jobs/labels.ts";
import type { Driver, Execution, Instance, OutputSink, ProbeResult, RunSpec } from "../types.ts";
import { instanceName } from "../types.ts";
import { chooseAccel } from "./accel.ts";
import { bootTimeoutMs, ownerTag, type Accel, type LaunchPlan } from "./args.ts";
import { loadVmAssets, type VmAssets } from "../../../src/vm/assets.ts";
import { shapeFor, type QemuDriverOptions } from "./options.ts";
import type { VmProcess } from "../../guest/host/vmm.ts";
import { spawnQemu } from "./spawn.ts";
import { probeBoot } from "./probe.ts";
import { findVmmProcesses, InstanceRecords, isAlive, killAndWait, listInstances } from "../../guest/host/records.ts";
import { installJobDisk, restoreVm, shapeKey, type Snapshot } from "./snapshot.ts";
import { vmPaths, type QemuMeta } from "./meta.ts";

const log = createLogger("qemu");
const STANDING_RECHECK_MS = 10_000;

export class QemuDriver implements Driver {
  readonly name = "qemu";
  private readonly live = new Map<string, VmProcess>();
  readonly records: InstanceRecords;
  private accelChoice?: Promise<Accel>;
  /** VMs started ahead per size class (options.warmPool); prepare takes one when the shape matches. */
  readonly warm?: WarmPool<QemuWarmVm>;
  /** Warm VMs taken by jobs, by the job's instance name. */
  private readonly taken = new Map<string, QemuWarmVm>();

  constructor(readonly opts: QemuDriverOptions) {
    this.records = new InstanceRecords(opts.stateDir);
    if (opts.warmPool?.classes.length) this.warm = new WarmPool(new QemuWarmFactory(this), opts.warmPool);
  }

  get binary(): string {
    return this.opts.binary ?? "qemu-system-x86_64";
  }

  get jobDiskGiB(): number {
    return this.opts.jobDiskGiB ?? 16;
  }

  private get mountCacheDir(): string {
    return this.opts.mountCacheDir ?? join(this.opts.stateDir, "mounts");
  }

  private standingCache?: { at: number; disks: Promise<MountDisk[]> };

  /**
   * The standing mounts' disks (built once per content; every VM of this driver has them). The
   * directories are walked for their digest at most every STANDING_RECHECK_MS, not on every job's
   * prepare: a runner directory has thousands of files, and a warm take costs tens of milliseconds.
   */
  standing(): Promise<MountDisk[]> {
    if (!this.opts.standingMounts?.length) return Promise.resolve([]);
    const now = Date.now();
    if (!this.standingCache || now - this.standingCache.at > STANDING_RECHECK_MS) {
      const disks = mountDisks(this.mountCacheDir, this.opts.standingMounts);
      disks.catch(() => (this.standingCache = undefined)); // a failure is not remembered
      this.standingCache = { at: now, disks };
    }
    return this.standingCache.disks;
  }

  /** The config's mount lines: the disks the job mounts, where. */
  private static listed(m: QemuMeta): { id: string; target: string }[] {
    return (m.mounts ?? []).filter((d) => m.mountIds?.includes(d.id)).map(({ id, target }) => ({ id, target }));
  }

  assets(): VmAssets {
    return this.opts.assets ?? loadVmAssets(this.opts.assetsDir);
  }

  /** KVM or TCG, decided once per driver. */
  accel(): Promise<Accel> {
    this.accelChoice ??= chooseAccel(this.opts.accel ?? "auto", () => probeBoot(this.binary, this.assets(), this.opts.stateDir), this.binary);
    return this.accelChoice;
  }

  /** Can it run here? When it can, the warm pool (if configured) starts filling. */
  async probe(): Promise<ProbeResult> {
    if (!Bun.which(this.binary)) return { ok: false, detail: `${this.binary} not found (Debian: apt-get install qemu-system-x86)` };
    let assets: VmAssets;
    try {
      assets = this.assets();
    } catch (e) {
      return { ok: false, detail: errorMessage(e) };
    }
    const accel = await this.accel();
    this.warm?.start();
    const pool = this.warm ? `, warm pool ${this.opts.warmPool!.classes.map((c) => `${warmClassName(c)}=${c.min}..${c.max}`).join(",")}` : "";
    return { ok: true, detail: `qemu microvm, accel ${accel}${accel === "tcg" ? " (software emulation)" : ""}, kernel ${assets.kernelVersion}${pool}` };
  }

  /** The rootfs a job (or a warm VM of a size class) boots: the `rootfs` hook's answer, or the test rootfs. */
  rootfsFor(spec: RunSpec): Promise<string> {
    return this.opts.rootfs ? this.opts.rootfs(spec) : Promise.resolve(this.assets().rootfs);
  }

  async prepare(spec: RunSpec): Promise<Instance> {
    const name = instanceName(spec.jobId, spec.attempt);
    const known = this.records.get(name);
    if (known?.meta.warmVm && this.taken.has(name)) return known;
    const rootfs = await this.rootfsFor(spec);
    // A job that mounts only standing mounts fits a warm VM or a snapshot; any other mount means a cold boot.
    const { attached, listed, extra } = await vmMounts(this.mountCacheDir, await this.standing(), spec.mounts);
    const warm = extra ? undefined : this.warm?.take(shapeKey(await this.planFor(spec.requirements, rootfs), this.jobDiskGiB));
    if (warm) return this.adopt(spec, warm, listed);
    const vmDir = join(spec.dir, "qemu");
    mkdirSync(vmDir, { recursive: true });
    const paths = vmPaths(vmDir);
    const net = await this.opts.network?.attach(name);
    const meta: QemuMeta = { vmDir, rootfs, ...shapeFor(spec.requirements, this.opts), tap: net?.tap, mac: net?.mac, ip: net?.ip, mounts: attached, mountIds: listed, docker: spec.requirements.docker || undefined };
    await writeConfigDisk(paths.configDisk, { hostname: name, command: spec.command, env: spec.env, net: net && { ...net }, mounts: QemuDriver.listed(meta), docker: spec.requirements.docker, ...spec.guest, time: Date.now() / 1000 });
    const inst: Instance = { driver: this.name, name, jobId: spec.jobId, attempt: spec.attempt, dir: spec.dir, meta };
    const snap = extra ? undefined : await this.opts.snapshots?.find(await this.plan(inst, "run"));
    if (existsSync(paths.jobDisk)) {
      // prepared before: keep the disk it has (and the snapshot it was copied from, if any)
      meta.snapshot = known?.meta.snapshot as Snapshot | undefined;
    } else if (snap) {
      await installJobDisk(snap, paths.jobDisk);
      meta.snapshot = snap;
    } else await ensureJobDisk(paths.jobDisk, this.jobDiskGiB);
    this.records.save(inst);
    return inst;
  }

  /** A warm VM becomes the job's instance: its record now carries the VM (process, tap, disks). */
  private adopt(spec: RunSpec, warm: QemuWarmVm, mountIds: string[]): Instance {
    const name = instanceName(spec.jobId, spec.attempt);
    const inst: Instance = { driver: this.name, name, jobId: spec.jobId, attempt: spec.attempt, dir: spec.dir, pid: warm.vm.pid, meta: { ...warm.meta, warmVm: warm.name, mountIds } };
    this.records.save(inst);
    this.records.remove(warm.name);
    this.taken.set(name, warm);
    return inst;
  }

  async start(inst: Instance, spec: RunSpec, sink: OutputSink): Promise<Execution> {
    if (isAlive(this.live.get(inst.name)?.pid)) throw new AppError("conflict", `${inst.name} is already running`);
    const m = inst.meta as QemuMeta;
    let vm: VmProcess;
    if (m.warmVm) {
      const warm = this.taken.get(inst.name);
      if (!warm) throw new AppError("unavailable", `${inst.name}: its warm VM ${m.warmVm} is gone (prepare again)`);
      await writeConfigInPlace(vmPaths(m.vmDir).configDisk, { hostname: inst.name, command: spec.command, env: spec.env, net: warm.net && { ...warm.net }, mounts: QemuDriver.listed(m), docker: spec.requirements.docker, ...spec.guest, time: Date.now() / 1000 });
      warm.relay.sink = sink;
      warm.vm.ring();
      vm = warm.vm;
    } else {
      const plan = await this.plan(inst, "run");
      const snap = m.snapshot && existsSync(m.snapshot.file) ? m.snapshot : undefined;
      vm = snap ? await restoreVm(plan, snap, this.binary, sink, { wrap: (a) => this.inNetns(a) }) : await this.boot(plan, sink);
    }
    this.live.set(inst.name, vm);
    this.records.save({ ...inst, pid: vm.pid });
    log.debug("vm started", { name: inst.name, pid: vm.pid, warm: m.warmVm, snapshot: m.snapshot?.file });
    return { pid: vm.pid, exited: vm.exited };
  }

  /** The launch plan for an instance: everything QEMU needs, from its record. */
  async plan(inst: Instance, mode: LaunchPlan["mode"]): Promise<LaunchPlan> {
    const m = inst.meta as QemuMeta;
    const a = this.assets();
    const accel = await this.accel();
    const nic = m.tap && m.mac ? { tap: m.tap, mac: m.mac } : this.opts.network ? "placeholder" : undefined;
    const mounts = m.mounts?.length ? m.mounts.map(({ id, image }) => ({ id, image })) : undefined;
    return { name: inst.name, owner: this.opts.owner, accel, vcpus: m.vcpus, memoryMiB: m.memoryMiB, kernel: a.kernel, initramfs: a.initramfs, rootfs: m.rootfs, mode, nic, mounts, docker: m.docker || undefined, ...vmPaths(m.vmDir) };
  }

  /** The plan a job with these requirements would get (placeholder paths): to build its snapshot ahead. */
  async planFor(req: Requirements, rootfs?: string): Promise<LaunchPlan> {
    const meta: QemuMeta = { vmDir: "/nonexistent", rootfs: rootfs ?? this.assets().rootfs, ...shapeFor(req, this.opts), mounts: await this.standing(), docker: req.docker || undefined };
    return this.plan({ driver: this.name, name: "nimbus-template-0", jobId: "template", attempt: 0, dir: "", meta }, "template");
  }

  inNetns(argv: string[]): string[] {
    return this.opts.netns ? ["ip", "netns", "exec", this.opts.netns, ...argv] : argv;
  }

  /**
   * Cold boot: resolves once the guest's userspace is up (a warm VM: once it waits for a job); a VM
   * that does not get there in time is killed.
   */
  async boot(plan: LaunchPlan, sink: OutputSink): Promise<VmProcess> {
    const vm = spawnQemu(plan, this.binary, sink, (a) => this.inNetns(a));
    const timeoutMs = this.opts.bootTimeoutMs ?? bootTimeoutMs(plan);
    const timer = setTimeout(() => vm.kill(), timeoutMs);
    try {
      if (plan.mode === "warm") await Promise.race([vm.waiting, vm.exited.then(() => Promise.reject(new Error("the VMM exited")))]);
      else await vm.ready;
      return vm;
    } catch (e) {
      throw new AppError("unavailable", `${plan.name}: the guest did not reach userspace within ${timeoutMs} ms: ${errorMessage(e)}`, { name: plan.name });
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(inst: Instance): Promise<void> {
    const vm = this.live.get(inst.name) ?? this.taken.get(inst.name)?.vm;
    if (vm) {
      vm.kill();
      await vm.exited;
      this.live.delete(inst.name);
    }
    const m = inst.meta as Partial<QemuMeta>;
    for (const pid of this.pidsOf(m.warmVm ?? inst.name, m.vmDir)) await killAndWait(pid);
  }

  /** Pids of QEMU processes running this instance: from its pidfile and from the process table. */
  private pidsOf(name: string, vmDir?: string): number[] {
    const pids = this.processes().filter((p) => p.name === name).map((p) => p.pid);
    const file = vmDir && vmPaths(vmDir).pidFile;
    if (file && existsSync(file)) {
      const pid = Number(readFileSync(file, "utf8").trim());
      if (isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`guest=${name},`) && !pids.includes(pid)) pids.push(pid);
    }
    return pids;
  }

  async destroy(inst: Instance): Promise<void> {
    await this.stop(inst);
    const m = inst.meta as Partial<QemuMeta>;
    await this.opts.network?.detach(m.warmVm ?? inst.name);
    rmSync(m.vmDir ?? join(inst.dir, "qemu"), { recursive: true, force: true });
    this.records.remove(inst.name);
    this.taken.delete(inst.name);
  }

  /** Agent stop: the warm pool's VMs are destroyed (jobs' VMs are the agent's to stop). */
  async close(): Promise<void> {
    await this.warm?.stop();
    await this.opts.snapshots?.close?.();
  }

  private processes() {
    return findVmmProcesses("qemu", this.opts.owner ? ownerTag(this.opts.owner) : undefined);
  }

  /**
   * Records and live processes; a taken warm VM's process is listed under its job's name, and the
   * warm pool's own VMs are not listed (a restarted agent's leftovers are: no live pool owns them).
   */
  async list(): Promise<Instance[]> {
    const alias = new Map(this.records.all().flatMap((i) => (typeof i.meta.warmVm === "string" ? [[i.meta.warmVm, i.name] as const] : [])));
    const procs = this.processes().map((p) => ({ ...p, name: alias.get(p.name) ?? p.name }));
    return listInstances(this.name, this.records, procs).filter((i) => !this.warm?.owns(i.name));
  }
}
