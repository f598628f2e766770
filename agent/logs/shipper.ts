/**
 * Ships spooled log lines to the log service in batches, oldest first, deleting them only once
 * accepted. Failures back off (with jitter) and keep the spool; batches are idempotent, so a
 * resend after a crash is harmless. Each batch carries its attempt's log credential (handed out at
 * claim, kept in the agent's SQLite); an attempt without one, or whose credential the service
 * refuses (403), can never be shipped and is dropped so it does not block later lines.
 */
import type { Logger } from "../../src/core/log.ts";
import { LOG_CREDENTIAL_HEADER } from "../../src/auth/log-credential.ts";
import type { AgentStore } from "../store.ts";

export interface ShipperOptions {
  store: AgentStore;
  logsUrl: string;
  token: string;
  log: Logger;
  batchLines?: number;
}

export class LogShipper {
  private wake: (() => void) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private failures = 0;

  constructor(private readonly opts: ShipperOptions) {}

  start(): void {
    this.loop = this.run();
  }

  /** Something was spooled: ship soon. */
  poke(): void {
    this.wake?.();
  }

  /** Wait until everything of (job, attempt) is shipped, or `timeoutMs` passes. */
  async drained(jobId: string, attempt: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.opts.store.pending(jobId, attempt) > 0) {
      if (Date.now() > deadline) return false;
      this.poke();
      await Bun.sleep(10);
    }
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const shipped = await this.shipOne().catch((e) => {
        this.failures++;
        if (this.failures === 1 || this.failures % 20 === 0) this.opts.log.warn("log shipping failed; lines stay spooled", { error: e, failures: this.failures });
        return false;
      });
      if (shipped) {
        this.failures = 0;
        continue;
      }
      const backoff = this.failures ? Math.min(5000, 100 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2) : 1000;
      await new Promise<void>((r) => {
        const t = setTimeout(r, backoff);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
  }

  /** Ship one batch; false when there was nothing to ship. */
  private async shipOne(): Promise<boolean> {
    const batch = this.opts.store.nextBatch(this.opts.batchLines ?? 1000);
    if (!batch) return false;
    const key = batch.lines[0] ?? batch.end!;
    const body = {
      jobId: key.jobId,
      attempt: key.attempt,
      lines: batch.lines.map((l) => ({ n: l.n, ts: l.ts, stream: l.stream, text: l.text })),
      ...(batch.end ? { end: { lines: batch.end.lines, ...(batch.end.exitCode === null ? {} : { exitCode: batch.end.exitCode }) } } : {}),
    };
    const credential = this.opts.store.logCredential(key.jobId, key.attempt);
    if (!credential) {
      this.opts.log.error("no log credential for this attempt; its spooled lines are dropped", { jobId: key.jobId, attempt: key.attempt });
      this.opts.store.dropSpool(key.jobId, key.attempt);
      return true;
    }
    const res = await fetch(`${this.opts.logsUrl}/v1/logs`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${this.opts.token}`, [LOG_CREDENTIAL_HEADER]: credential },
      body: JSON.stringify(body),
    });
    if (res.status === 403) {
      // The credential does not cover this batch (expired, another agent's, another attempt's): no resend will help.
      this.opts.log.error("log credential refused; the attempt's spooled lines are dropped", { jobId: key.jobId, attempt: key.attempt, body: await res.text() });
      this.opts.store.dropSpool(key.jobId, key.attempt);
      return true;
    }
    if (res.status === 422 || res.status === 413) {
      // The service will never take this batch: drop it rather than block every later line.
      this.opts.log.error("log batch rejected; dropped", { jobId: key.jobId, status: res.status, body: await res.text() });
    } else if (!res.ok) throw new Error(`log service answered ${res.status}`);
    const maxN = batch.lines.length ? batch.lines[batch.lines.length - 1]!.n : -1;
    this.opts.store.ackBatch(key.jobId, key.attempt, maxN, batch.end !== null);
    return true;
  }
}
