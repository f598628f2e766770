/**
 * Snapshots ready to restore, one per VM shape (accelerator, vCPUs, memory, job disk size, NIC,
 * boot files): the qemu driver asks `find(plan)` at prepare and restores instead of booting when
 * one exists; the warm pool restores its VMs from them too. `prepare(plan)` builds one ahead (a
 * template VM booted in "template" mode, migrated to a file, its job disk kept beside it);
 * building is idempotent and one at a time per shape. One snapshot serves any number of restores
 * (each restore is a clone on its own copy of the disk), so a job takes the warm path in O(1).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../../src/core/log.ts";
import { ensureJobDisk } from "../../guest/host/disks.ts";
import { CONFIG_DISK_BYTES } from "../../guest/host/config.ts";
import type { LaunchPlan } from "./args.ts";
import { createSnapshot, shapeKey, type Snapshot, type SnapshotSource } from "./snapshot.ts";

const log = createLogger("snapshots");

export interface SnapshotPoolOptions {
  /** Where snapshot files live, e.g. `<agent state>/snapshots`. */
  dir: string;
  /** Must equal the driver's jobDiskGiB: the restored guest has seen the template's disk size. */
  jobDiskGiB: number;
  binary?: string;
  /** Build a missing snapshot in the background when a job asks for it (the job itself boots cold). */
  buildOnMiss?: boolean;
}

export class SnapshotPool implements SnapshotSource {
  private readonly building = new Map<string, Promise<Snapshot>>();
  private closed = false;

  constructor(private readonly opts: SnapshotPoolOptions) {
    mkdirSync(opts.dir, { recursive: true });
  }

  fileFor(plan: LaunchPlan): string {
    return join(this.opts.dir, `${shapeKey(plan, this.opts.jobDiskGiB)}.snap`);
  }

  /**
   * Where a template VM runs while its snapshot is built: short, whatever the shape key's length
   * (its QMP and control sockets must fit a unix socket path, 107 bytes).
   */
  private templateDir(file: string): string {
    return join(this.opts.dir, `tpl-${new Bun.CryptoHasher("sha256").update(file).digest("hex").slice(0, 12)}`);
  }

  private existing(file: string): Snapshot | undefined {
    return existsSync(file) && existsSync(`${file}.disk`) ? { file, jobDisk: `${file}.disk` } : undefined;
  }

  /** Agent stop: template VMs still booting are killed, and no new build starts. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [file, build] of this.building) {
      try {
        process.kill(Number(readFileSync(join(this.templateDir(file), "qemu.pid"), "utf8").trim()), "SIGKILL");
      } catch {
        // not started yet, or gone already
      }
      await build.catch(() => undefined);
    }
  }

  async find(plan: LaunchPlan): Promise<Snapshot | undefined> {
    const snap = this.existing(this.fileFor(plan));
    if (snap) return snap;
    if (this.opts.buildOnMiss && !this.closed) this.prepare(plan).catch((e) => log.warn("snapshot build failed", { error: e }));
    return undefined;
  }

  /** Builds the snapshot for this plan's shape if it does not exist yet. */
  prepare(plan: LaunchPlan): Promise<Snapshot> {
    const file = this.fileFor(plan);
    const snap = this.existing(file);
    if (snap) return Promise.resolve(snap);
    let p = this.building.get(file);
    if (!p) {
      p = this.build(plan, file).finally(() => this.building.delete(file));
      this.building.set(file, p);
    }
    return p;
  }

  private async build(plan: LaunchPlan, file: string): Promise<Snapshot> {
    const dir = this.templateDir(file);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tpl: LaunchPlan = { ...plan, name: "nimbus-template-0", jobDisk: join(dir, "job.ext4"), configDisk: join(dir, "config.img"), qmpSocket: join(dir, "qmp.sock"), pidFile: join(dir, "qemu.pid") };
    try {
      await ensureJobDisk(tpl.jobDisk, this.opts.jobDiskGiB);
      writeFileSync(tpl.configDisk, new Uint8Array(CONFIG_DISK_BYTES));
      const t0 = performance.now();
      const snap = await createSnapshot(tpl, file, this.opts.binary ?? "qemu-system-x86_64", () => undefined);
      log.info("snapshot ready", { file, ms: Math.round(performance.now() - t0) });
      return snap;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Removes snapshots no current shape uses (e.g. after a new initramfs or rootfs). */
  prune(keep: LaunchPlan[]): void {
    const wanted = new Set(keep.map((p) => this.fileFor(p)));
    for (const f of readdirSync(this.opts.dir)) {
      const base = f.endsWith(".snap.disk") ? f.slice(0, -".disk".length) : f;
      if (base.endsWith(".snap") && !wanted.has(join(this.opts.dir, base))) rmSync(join(this.opts.dir, f), { force: true });
    }
  }
}
