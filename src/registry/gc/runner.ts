/**
 * Runs the collector one run at a time: periodically (every `intervalMs`) and on demand (the admin
 * route). A request while a run is going waits for it and then gets a run of its own, so what it
 * reports began after it asked. Each finished run is logged with its figures and kept as `last`.
 */
import type { Logger } from "../../core/log.ts";
import type { Quota } from "../quota/quota.ts";
import { collectGarbage, type GcOptions, type GcReport } from "./collect.ts";
import type { GcDeps } from "./policy.ts";

export class GcRunner {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | undefined;
  private running = 0;
  last: GcReport | undefined;
  private readonly listeners: ((r: GcReport) => void)[] = [];

  constructor(
    private readonly d: GcDeps,
    private readonly quota: Quota | undefined,
    private readonly log: Logger,
  ) {}

  run(o: GcOptions = {}): Promise<GcReport> {
    this.running++;
    const next = this.chain.then(() => collectGarbage(this.d, this.quota, o)).finally(() => this.running--);
    this.chain = next.then(
      (r) => {
        if (!r.dryRun) this.last = r;
        this.log.info("registry garbage collection", { ...r });
        for (const l of this.listeners) l(r);
      },
      (e) => this.log.warn("registry garbage collection failed", { error: e }),
    );
    return next;
  }

  /** Hear every finished run's report (metrics). */
  onReport(listener: (r: GcReport) => void): void {
    this.listeners.push(listener);
  }

  start(intervalMs: number): void {
    // A tick while a run is still going is skipped, so slow runs never pile up.
    this.timer = setInterval(() => void (this.running === 0 && this.run().catch(() => {})), intervalMs);
    this.timer.unref?.();
  }

  /** Stop the timer and wait for a run in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.chain;
  }
}
