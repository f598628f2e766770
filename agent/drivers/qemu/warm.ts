/**
 * The qemu driver's warm VMs (agent/pool/warm.ts decides how many): each lives in
 * `<stateDir>/warm/<name>/` with its own job disk, a blank config disk and (with networking) its
 * own tap, boots in "warm" mode or is restored from the shape's snapshot (a `+docker` class's VM
 * has dockerd running by then: LaunchPlan.docker), and waits for the
 * doorbell. It has an instance record like a job's, so a crashed agent's warm VMs are found and
 * reaped by list()/destroy() like any other. A job takes one at prepare (QemuDriver.adopt): its
 * config is written into the VM's config disk at start, its console is relayed to the job's sink,
 * and the doorbell is rung.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureJobDisk } from "../../guest/host/disks.ts";
import { CONFIG_DISK_BYTES } from "../../guest/host/config.ts";
import type { VmProcess } from "../../guest/host/vmm.ts";
import type { VmNetAttachment } from "../../net/types.ts";
import type { WarmFactory, WarmVm } from "../../pool/warm.ts";
import { SIZE_CLASSES, type Requirements } from "../../../src/jobs/labels.ts";
import { parseWarmClassName } from "../../../src/agents/warm-schedule.ts";
import { AppError } from "../../../src/core/errors.ts";
import type { Instance, OutputSink, RunSpec } from "../types.ts";
import { INSTANCE_PREFIX } from "../types.ts";
import type { MountDisk } from "../../guest/host/mount-disks.ts";
import type { InstanceRecords } from "../../guest/host/records.ts";
import type { LaunchPlan } from "./args.ts";
import type { QemuMeta } from "./meta.ts";
import type { QemuDriverOptions } from "./options.ts";
import { shapeFor } from "./options.ts";
import { installJobDisk, restoreVm, shapeKey } from "./snapshot.ts";

export interface QemuWarmVm extends WarmVm {
  vm: VmProcess;
  meta: QemuMeta;
  net?: VmNetAttachment;
  /** Where the console goes: nowhere until a job takes the VM. */
  relay: { sink?: OutputSink };
}

/**
 * What a job of this warm class asks for: `2c4g` (no docker), `2c4g+docker` (the docker label).
 * GPU and image: shapes are not pooled.
 */
export function vmRequirements(cls: string): Requirements {
  const { sizeClass, docker } = parseWarmClassName(cls);
  const size = SIZE_CLASSES.find((c) => c.name === sizeClass);
  if (!size) throw new AppError("validation_failed", `unknown size class ${sizeClass}`, { field: "sizeClass" });
  return { arch: "x64", isolation: "vm", size, docker: docker === true, gpus: 0 };
}

function specFor(cls: string, name: string, dir: string): RunSpec {
  return { jobId: name.slice(INSTANCE_PREFIX.length), attempt: 0, command: ["true"], env: {}, dir, requirements: vmRequirements(cls) };
}

/** What warming needs of its driver: the QEMU driver passes itself. */
export interface WarmHost {
  readonly name: string;
  readonly opts: QemuDriverOptions;
  readonly records: InstanceRecords;
  readonly binary: string;
  readonly jobDiskGiB: number;
  standing(): Promise<MountDisk[]>;
  rootfsFor(spec: RunSpec): Promise<string>;
  planFor(req: Requirements, rootfs?: string): Promise<LaunchPlan>;
  plan(inst: Instance, mode: LaunchPlan["mode"]): Promise<LaunchPlan>;
  inNetns(argv: string[]): string[];
  boot(plan: LaunchPlan, sink: OutputSink): Promise<VmProcess>;
  destroy(inst: Instance): Promise<void>;
}

export class QemuWarmFactory implements WarmFactory<QemuWarmVm> {
  constructor(private readonly d: WarmHost) {}

  async keyFor(cls: string): Promise<string> {
    const spec = specFor(cls, `${INSTANCE_PREFIX}warm-key-0`, this.d.opts.stateDir);
    return shapeKey(await this.d.planFor(spec.requirements, await this.d.rootfsFor(spec)), this.d.jobDiskGiB);
  }

  async create(cls: string, name: string): Promise<QemuWarmVm> {
    const vmDir = join(this.d.opts.stateDir, "warm", name);
    mkdirSync(vmDir, { recursive: true });
    const spec = specFor(cls, name, vmDir);
    const rootfs = await this.d.rootfsFor(spec);
    const meta0: QemuMeta = { vmDir, rootfs, ...shapeFor(spec.requirements, this.d.opts), mounts: await this.d.standing(), warm: true, docker: spec.requirements.docker || undefined };
    const inst: Instance = { driver: this.d.name, name, jobId: spec.jobId, attempt: 0, dir: vmDir, meta: meta0 };
    this.d.records.save(inst); // before anything exists: a crash from here on leaves a record to reap
    try {
      const net = await this.d.opts.network?.attach(name);
      const meta: QemuMeta = { ...(inst.meta as QemuMeta), tap: net?.tap, mac: net?.mac, ip: net?.ip };
      inst.meta = meta;
      this.d.records.save(inst);
      const plan = await this.d.plan(inst, "warm");
      writeFileSync(plan.configDisk, new Uint8Array(CONFIG_DISK_BYTES));
      const relay: QemuWarmVm["relay"] = {};
      const sink: OutputSink = (s, t) => relay.sink?.(s, t);
      const snap = await this.d.opts.snapshots?.find(plan);
      let vm: VmProcess;
      if (snap) {
        await installJobDisk(snap, plan.jobDisk);
        vm = await restoreVm(plan, snap, this.d.binary, sink, { wrap: (a) => this.d.inNetns(a), ring: false });
        // Translations do not survive a restore: have the guest run the job path once more.
        const again = vm.waitingAgain();
        vm.ring("warm");
        await Promise.race([again, vm.exited.then(() => Promise.reject(new AppError("unavailable", `${name} ended while warming up`)))]);
      } else {
        await ensureJobDisk(plan.jobDisk, this.d.jobDiskGiB);
        vm = await this.d.boot(plan, sink);
      }
      this.d.records.save({ ...inst, pid: vm.pid });
      return { name, key: shapeKey(plan, this.d.jobDiskGiB), exited: vm.exited, vm, meta, net, relay };
    } catch (e) {
      await this.d.destroy(inst);
      throw e;
    }
  }

  async destroy(w: QemuWarmVm): Promise<void> {
    w.vm.kill();
    await w.vm.exited;
    await this.d.destroy({ driver: this.d.name, name: w.name, jobId: w.name.slice(INSTANCE_PREFIX.length), attempt: 0, dir: w.meta.vmDir, meta: w.meta });
  }
}
