/**
 * The qemu driver: one `-M microvm` VM per job. KVM when a probe boot shows it works, software
 * emulation (TCG) otherwise. Read-only rootfs + per-job writable disk (overlay upper layer in the
 * guest) + a config disk; the console carries framed output and the exit code; QMP for snapshots.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AppError, errorMessage } from "../../../src/core/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { writeConfigDisk, ensureJobDisk } from "../../guest/host/disks.ts";
import type { Requirements } from "../../../src/jobs/labels.ts";
import type { Driver, Execution, Instance, OutputSink, ProbeResult, RunSpec } from "../types.ts";
import { instanceName } from "../types.ts";
import { chooseAccel } from "./accel.ts";
import { ownerTag, qemuArgs, type Accel, type LaunchPlan } from "./args.ts";
import { loadVmAssets, type VmAssets } from "./assets.ts";
import { shapeFor, type QemuDriverOptions } from "./options.ts";
import { spawnVm, type VmProcess } from "../../guest/host/vmm.ts";
import { probeBoot } from "./probe.ts";
import { findVmmProcesses, InstanceRecords, isAlive, killAndWait, listInstances } from "../../guest/host/records.ts";
import { restoreVm } from "./snapshot.ts";

const log = createLogger("qemu");

export interface QemuMeta {
  vmDir: string;
  rootfs: string;
  vcpus: number;
  memoryMiB: number;
  tap?: string;
  mac?: string;
  ip?: string;
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

export class QemuDriver implements Driver {
  readonly name = "qemu";
  private readonly live = new Map<string, VmProcess>();
  private readonly records: InstanceRecords;
  private accelChoice?: Promise<Accel>;

  constructor(private readonly opts: QemuDriverOptions) {
    this.records = new InstanceRecords(opts.stateDir);
  }

  get binary(): string {
    return this.opts.binary ?? "qemu-system-x86_64";
  }

  assets(): VmAssets {
    return this.opts.assets ?? loadVmAssets(this.opts.assetsDir);
  }

  /** KVM or TCG, decided once per driver. */
  accel(): Promise<Accel> {
    this.accelChoice ??= chooseAccel(this.opts.accel ?? "auto", () => probeBoot(this.binary, this.assets(), this.opts.stateDir), this.binary);
    return this.accelChoice;
  }

  async probe(): Promise<ProbeResult> {
    if (!Bun.which(this.binary)) return { ok: false, detail: `${this.binary} not found (Debian: apt-get install qemu-system-x86)` };
    let assets: VmAssets;
    try {
      assets = this.assets();
    } catch (e) {
      return { ok: false, detail: errorMessage(e) };
    }
    const accel = await this.accel();
    return { ok: true, detail: `qemu microvm, accel ${accel}${accel === "tcg" ? " (software emulation)" : ""}, kernel ${assets.kernelVersion}` };
  }

  async prepare(spec: RunSpec): Promise<Instance> {
    const name = instanceName(spec.jobId, spec.attempt);
    const vmDir = join(spec.dir, "qemu");
    mkdirSync(vmDir, { recursive: true });
    const paths = vmPaths(vmDir);
    const rootfs = this.opts.rootfs ? await this.opts.rootfs(spec) : this.assets().rootfs;
    await ensureJobDisk(paths.jobDisk, this.opts.jobDiskGiB ?? 16);
    const net = await this.opts.network?.attach(name);
    await writeConfigDisk(paths.configDisk, { hostname: name, command: spec.command, env: spec.env, net: net && { ...net } });
    const meta: QemuMeta = { vmDir, rootfs, ...shapeFor(spec.requirements, this.opts), tap: net?.tap, mac: net?.mac, ip: net?.ip };
    const inst: Instance = { driver: this.name, name, jobId: spec.jobId, attempt: spec.attempt, dir: spec.dir, meta };
    this.records.save(inst);
    return inst;
  }

  async start(inst: Instance, _spec: RunSpec, sink: OutputSink): Promise<Execution> {
    if (isAlive(this.live.get(inst.name)?.pid)) throw new AppError("conflict", `${inst.name} is already running`);
    const plan = await this.plan(inst, "run");
    const snapshot = await this.opts.snapshots?.find(plan);
    const vm = snapshot ? await restoreVm(plan, snapshot, this.binary, sink, (a) => this.inNetns(a)) : await this.boot(plan, sink);
    this.live.set(inst.name, vm);
    this.records.save({ ...inst, pid: vm.pid, meta: { ...inst.meta, restoredFrom: snapshot } });
    log.debug("vm started", { name: inst.name, pid: vm.pid, accel: plan.accel, snapshot });
    return { pid: vm.pid, exited: vm.exited };
  }

  /** The launch plan for an instance: everything QEMU needs, from its record. */
  async plan(inst: Instance, mode: LaunchPlan["mode"]): Promise<LaunchPlan> {
    const m = inst.meta as QemuMeta;
    const a = this.assets();
    const accel = await this.accel();
    const nic = m.tap && m.mac ? { tap: m.tap, mac: m.mac } : this.opts.network ? "placeholder" : undefined;
    return { name: inst.name, owner: this.opts.owner, accel, vcpus: m.vcpus, memoryMiB: m.memoryMiB, kernel: a.kernel, initramfs: a.initramfs, rootfs: m.rootfs, mode, nic, ...vmPaths(m.vmDir) };
  }

  /** The plan a job with these requirements would get (placeholder paths): to build its snapshot ahead. */
  async planFor(req: Requirements, rootfs?: string): Promise<LaunchPlan> {
    const meta: QemuMeta = { vmDir: "/nonexistent", rootfs: rootfs ?? this.assets().rootfs, ...shapeFor(req, this.opts) };
    return this.plan({ driver: this.name, name: "nimbus-template-0", jobId: "template", attempt: 0, dir: "", meta }, "wait");
  }

  private inNetns(argv: string[]): string[] {
    return this.opts.netns ? ["ip", "netns", "exec", this.opts.netns, ...argv] : argv;
  }

  /** Cold boot: resolves once the guest's userspace is up; a VM that does not get there is killed. */
  async boot(plan: LaunchPlan, sink: OutputSink): Promise<VmProcess> {
    rmSync(plan.qmpSocket, { force: true });
    const vm = spawnVm(this.inNetns(qemuArgs(plan, this.binary)), sink);
    const timeoutMs = this.opts.bootTimeoutMs ?? (plan.accel === "kvm" ? 10_000 : 60_000);
    const timer = setTimeout(() => vm.kill(), timeoutMs);
    try {
      await vm.ready;
      return vm;
    } catch (e) {
      throw new AppError("unavailable", `${plan.name}: the guest did not reach userspace within ${timeoutMs} ms: ${errorMessage(e)}`, { name: plan.name });
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(inst: Instance): Promise<void> {
    const vm = this.live.get(inst.name);
    if (vm) {
      vm.kill();
      await vm.exited;
      this.live.delete(inst.name);
    }
    const m = inst.meta as Partial<QemuMeta>;
    for (const pid of this.pidsOf(inst.name, m.vmDir)) await killAndWait(pid);
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
    await this.opts.network?.detach(inst.name);
    const vmDir = (inst.meta as Partial<QemuMeta>).vmDir ?? join(inst.dir, "qemu");
    rmSync(vmDir, { recursive: true, force: true });
    this.records.remove(inst.name);
  }

  private processes() {
    return findVmmProcesses("qemu", this.opts.owner ? ownerTag(this.opts.owner) : undefined);
  }

  async list(): Promise<Instance[]> {
    return listInstances(this.name, this.records, this.processes());
  }
}
