/**
 * The warm pool: per class (a size class, or a size class `+docker`), VMs started ahead (booted, or restored from a snapshot) that wait
 * for a job. A job whose shape matches takes one in O(1) (`take(key)` pops a list) and a
 * replacement is started behind it. Per class the pool keeps `target` VMs ready or starting:
 *
 *   target = min(max, max(min in force (schedule), jobs taken in the last demandWindowMs))
 *
 * so a schedule raises the minimum for busy hours and a burst of jobs grows the pool up to its
 * maximum; idle VMs above the target, and VMs whose shape went stale (new rootfs, new initramfs),
 * are destroyed on the next tick. VMs are created one at a time (each costs a boot's CPU); a class
 * whose creations fail backs off exponentially with jitter. The pool knows nothing of QEMU: a
 * factory creates and destroys its VMs.
 */
import { randomBytes } from "node:crypto";
import { createLogger } from "../../src/core/log.ts";
import { INSTANCE_PREFIX } from "../vm/run.ts";
import { scheduledMin, warmClassName, type WarmClassConfig, type WarmScheduleEntry } from "../../src/agents/warm-schedule.ts";

const log = createLogger("warm-pool");

export interface WarmVm {
  name: string;
  /** The shape key of the VM: a job takes it when its own shape key is equal. */
  key: string;
  /** Settles when the VM has ended (an idle VM that dies is replaced). */
  exited: Promise<unknown>;
}

export interface WarmFactory<V extends WarmVm> {
  /** The shape key a VM of this class (`2c4g`, `2c4g+docker`) gets now (it changes with the rootfs or boot files). */
  keyFor(cls: string): Promise<string>;
  /** Starts a VM of class `cls` named `name` and resolves once it waits for a job. */
  create(cls: string, name: string): Promise<V>;
  /** Stops the VM and removes every resource it has. Idempotent. */
  destroy(vm: V): Promise<void>;
}

export interface WarmPoolOptions {
  classes: WarmClassConfig[];
  schedule?: WarmScheduleEntry[];
  /** Re-evaluate targets, trim and replace stale VMs this often. Default 30 s. */
  tickMs?: number;
  /** Jobs taken within this window count as demand. Default 10 min. */
  demandWindowMs?: number;
  /** VMs created at once. Default 1. */
  concurrency?: number;
  now?: () => Date;
}

interface ClassState {
  cfg: WarmClassConfig;
  key?: string;
  idle: WarmVm[];
  starting: Set<string>;
  takes: number[];
  failures: number;
  retryAt: number;
}

export interface WarmClassStats {
  /** The class as configured: `2c4g` or `2c4g+docker`. */
  class: string;
  sizeClass: string;
  idle: number;
  starting: number;
  target: number;
  failures: number;
}

/** 1 s, 2 s, 4 s ... up to 5 min, with ±20 % jitter. */
export function backoffMs(failures: number): number {
  const base = Math.min(300_000, 1000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export class WarmPool<V extends WarmVm> {
  private readonly classes: ClassState[];
  private timer?: ReturnType<typeof setInterval>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private creating = 0;
  private readonly inflight = new Set<Promise<void>>();
  private started = false;
  private stopping = false;
  private readonly settledWaiters: (() => void)[] = [];

  constructor(private readonly factory: WarmFactory<V>, private readonly opts: WarmPoolOptions) {
    this.classes = opts.classes.map((cfg) => ({ cfg, idle: [], starting: new Set(), takes: [], failures: 0, retryAt: 0 }));
  }

  private now(): number {
    return (this.opts.now?.() ?? new Date()).getTime();
  }

  /** Starts filling; idempotent. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 30_000);
    void this.tick();
  }

  target(c: ClassState): number {
    const window = this.opts.demandWindowMs ?? 600_000;
    const now = this.now();
    c.takes = c.takes.filter((t) => now - t < window);
    const min = scheduledMin(c.cfg, this.opts.schedule ?? [], new Date(now));
    return Math.min(c.cfg.max, Math.max(min, c.takes.length));
  }

  /** An idle VM of this shape, now, or undefined; a replacement is started behind it. */
  take(key: string): V | undefined {
    for (const c of this.classes) {
      if (c.key !== key || c.idle.length === 0) continue;
      const vm = c.idle.shift() as V;
      c.takes.push(this.now());
      log.info("warm vm taken", { name: vm.name, class: warmClassName(c.cfg), idle: c.idle.length });
      this.pump();
      return vm;
    }
    return undefined;
  }

  /** Is this VM the pool's own (idle or starting)? A taken VM belongs to its job. */
  owns(name: string): boolean {
    return this.classes.some((c) => c.starting.has(name) || c.idle.some((v) => v.name === name));
  }

  stats(): WarmClassStats[] {
    return this.classes.map((c) => ({ class: warmClassName(c.cfg), sizeClass: c.cfg.sizeClass, idle: c.idle.length, starting: c.starting.size, target: this.target(c), failures: c.failures }));
  }

  /** Resolves when no VM is being created and every class is at its target (or backing off). */
  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve();
    return new Promise((r) => this.settledWaiters.push(r));
  }

  private isSettled(): boolean {
    return this.creating === 0 && this.classes.every((c) => c.idle.length >= this.target(c) || c.failures > 0);
  }

  private notifySettled(): void {
    if (!this.isSettled()) return;
    for (const w of this.settledWaiters.splice(0)) w();
  }

  /** Refresh shape keys (a stale idle VM is destroyed), trim above the target, fill below it. */
  async tick(): Promise<void> {
    if (this.stopping) return;
    for (const c of this.classes) {
      try {
        const key = await this.factory.keyFor(warmClassName(c.cfg));
        if (c.key && c.key !== key) this.discard(c, c.idle.splice(0), "stale shape");
        c.key = key;
      } catch (e) {
        log.warn("warm pool cannot plan its VMs", { class: warmClassName(c.cfg), error: e });
      }
      const extra = c.idle.length + c.starting.size - this.target(c);
      if (extra > 0) this.discard(c, c.idle.splice(0, Math.min(extra, c.idle.length)), "above target");
    }
    this.pump();
  }

  private discard(c: ClassState, vms: WarmVm[], why: string): void {
    for (const vm of vms) {
      log.info("warm vm discarded", { name: vm.name, class: warmClassName(c.cfg), why });
      this.track(this.factory.destroy(vm as V).catch((e) => log.warn("warm vm destroy failed", { name: vm.name, error: e })));
    }
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p));
  }

  /** Starts creations while some class is below its target and the concurrency allows. */
  private pump(): void {
    if (!this.started || this.stopping) return;
    const limit = this.opts.concurrency ?? 1;
    while (this.creating < limit) {
      const now = this.now();
      const c = this.classes.find((x) => x.key && x.retryAt <= now && x.idle.length + x.starting.size < this.target(x));
      if (!c) break;
      this.create(c);
    }
    const waiting = this.classes.filter((x) => x.retryAt > this.now() && x.idle.length + x.starting.size < this.target(x));
    if (waiting.length && !this.retryTimer) {
      const at = Math.min(...waiting.map((x) => x.retryAt));
      this.retryTimer = setTimeout(() => ((this.retryTimer = undefined), this.pump()), Math.max(0, at - this.now()));
    }
    this.notifySettled();
  }

  private create(c: ClassState): void {
    const name = `${INSTANCE_PREFIX}warm-${randomBytes(4).toString("hex")}-0`;
    c.starting.add(name);
    this.creating++;
    const t0 = performance.now();
    this.track(
      this.factory
        .create(warmClassName(c.cfg), name)
        .then(async (vm) => {
          if (this.stopping || vm.key !== c.key) return this.factory.destroy(vm);
          c.failures = 0;
          c.idle.push(vm);
          log.info("warm vm ready", { name, class: warmClassName(c.cfg), ms: Math.round(performance.now() - t0), idle: c.idle.length });
          vm.exited.then(() => this.lost(c, vm));
        })
        .catch((e) => {
          c.failures++;
          c.retryAt = this.now() + backoffMs(c.failures);
          log.warn("warm vm failed to start", { name, class: warmClassName(c.cfg), failures: c.failures, error: e });
        })
        .finally(() => {
          c.starting.delete(name);
          this.creating--;
          this.pump();
        }),
    );
  }

  /** An idle VM ended on its own: forget it, destroy its leftovers and start another. */
  private lost(c: ClassState, vm: WarmVm): void {
    const i = c.idle.indexOf(vm);
    if (i < 0) return;
    c.idle.splice(i, 1);
    log.warn("idle warm vm ended", { name: vm.name, class: warmClassName(c.cfg) });
    this.discard(c, [vm], "ended");
    this.pump();
  }

  /** Stops filling and destroys every VM the pool holds (taken ones belong to their jobs). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    for (const c of this.classes) {
      const vms = c.idle.splice(0);
      await Promise.allSettled(vms.map((vm) => this.factory.destroy(vm as V)));
    }
    for (const w of this.settledWaiters.splice(0)) w();
  }
}
