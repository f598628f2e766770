/**
 * Ships spooled log lines to the log service in batches, oldest first, deleting them only once
 * accepted. Failures back off (with jitter) and keep the spool; batches are idempotent, so a
 * resend after a crash is harmless. Each batch carries its attempt's log credential (handed out at
 * claim, kept in the agent's SQLite); an attempt without one, or whose credential the service
 * refuses (403), can never be shipped and is dropped so it does not block later lines.
 *
 * Several batches are in flight at once (`concurrency`), never two of one attempt (its lines go in
 * order): one sender keeps the oldest line moving, the others ship the attempts that have ended, whose
 * jobs wait in `drained` for them; a job that finished does not queue behind every other job's round trip.
 */
import type { Logger } from "../../src/core/log.ts";
import { LOG_CREDENTIAL_HEADER } from "../../src/auth/log-credential.ts";
import type { AgentStore, SpoolEnd, SpoolLine } from "../store.ts";

export interface ShipperOptions {
  store: AgentStore;
  logsUrl: string;
  token: string;
  log: Logger;
  batchLines?: number;
  /** Batches in flight at once, each of a different attempt (default 4). */
  concurrency?: number;
}

const keyOf = (jobId: string, attempt: number) => `${jobId}#${attempt}`;

export class LogShipper {
  private readonly wakes = new Set<() => void>();
  private stopped = false;
  private loops: Promise<void>[] = [];
  private failures = 0;
  /** Attempts with a batch in flight. */
  private readonly inFlight = new Set<string>();
  /** Who waits in `drained`, by attempt: woken when a batch of that attempt is acknowledged or dropped. */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly opts: ShipperOptions) {}

  start(): void {
    const n = Math.max(1, this.opts.concurrency ?? 4);
    this.loops = Array.from({ length: n }, (_, i) => this.run(i === 0));
  }

  /** Something was spooled: ship soon. */
  poke(): void {
    for (const wake of [...this.wakes]) wake();
  }

  /** Wait until everything of (job, attempt) is shipped, or `timeoutMs` passes. */
  async drained(jobId: string, attempt: number, timeoutMs: number): Promise<boolean> {
    if (this.opts.store.pending(jobId, attempt) === 0) return true;
    const key = keyOf(jobId, attempt);
    const deadline = Date.now() + timeoutMs;
    this.poke();
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      // Woken when a batch of this attempt settles; the timer also covers a shipper that is backing off.
      await new Promise<void>((resolve) => {
        const set = this.waiters.get(key) ?? new Set();
        this.waiters.set(key, set);
        const done = () => {
          clearTimeout(t);
          set.delete(done);
          if (!set.size && this.waiters.get(key) === set) this.waiters.delete(key);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 1000));
        set.add(done);
      });
      if (this.opts.store.pending(jobId, attempt) === 0) return true;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await Promise.all(this.loops);
  }

  /** One sender; `oldestFirst`: it keeps the oldest spooled line moving, the others prefer ended attempts. */
  private async run(oldestFirst: boolean): Promise<void> {
    while (!this.stopped) {
      const shipped = await this.shipOne(oldestFirst).catch((e) => {
        this.failures++;
        if (this.failures === 1 || this.failures % 20 === 0) this.opts.log.warn("log shipping failed; lines stay spooled", { error: e, failures: this.failures });
        return false;
      });
      if (shipped) {
        this.failures = 0;
        continue;
      }
      if (this.stopped) break; // stop() poked while this sender was busy: do not sleep first
      const backoff = this.failures ? Math.min(5000, 100 * 2 ** Math.min(this.failures, 6)) * (0.5 + Math.random() / 2) : 1000;
      await new Promise<void>((r) => {
        const wake = () => {
          clearTimeout(t);
          this.wakes.delete(wake);
          r();
        };
        const t = setTimeout(wake, backoff);
        this.wakes.add(wake);
      });
    }
  }

  /** The next attempt to ship a batch of, none already in flight. */
  private pick(oldestFirst: boolean): { jobId: string; attempt: number } | null {
    const store = this.opts.store;
    const busy = (jobId: string, attempt: number) => this.inFlight.has(keyOf(jobId, attempt));
    return oldestFirst ? store.oldestAttempt(busy) ?? store.endedAttempt(busy, this.inFlight.size) : store.endedAttempt(busy, this.inFlight.size) ?? store.oldestAttempt(busy);
  }

  private settled(key: string): void {
    for (const w of [...(this.waiters.get(key) ?? [])]) w();
  }

  /** Ship one batch; false when there was nothing to ship. */
  private async shipOne(oldestFirst: boolean): Promise<boolean> {
    const key = this.pick(oldestFirst);
    if (!key) return false;
    const k = keyOf(key.jobId, key.attempt);
    this.inFlight.add(k);
    try {
      const batch = this.opts.store.batchOf(key.jobId, key.attempt, this.opts.batchLines ?? 1000);
      if (!batch) return true; // shipped meanwhile: look again
      await this.send(key, batch);
      return true;
    } finally {
      this.inFlight.delete(k);
      this.settled(k);
    }
  }

  private async send(key: { jobId: string; attempt: number }, batch: { lines: SpoolLine[]; end: SpoolEnd | null }): Promise<void> {
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
      return;
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
      return;
    }
    if (res.status === 422 || res.status === 413) {
      // The service will never take this batch: drop it rather than block every later line.
      this.opts.log.error("log batch rejected; dropped", { jobId: key.jobId, status: res.status, body: await res.text() });
    } else if (!res.ok) throw new Error(`log service answered ${res.status}`);
    const maxN = batch.lines.length ? batch.lines[batch.lines.length - 1]!.n : -1;
    this.opts.store.ackBatch(key.jobId, key.attempt, maxN, batch.end !== null);
  }
}
