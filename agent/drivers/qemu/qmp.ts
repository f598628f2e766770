/**
 * A minimal QMP client (QEMU's JSON monitor) over its unix socket: connect, negotiate
 * capabilities, run commands one at a time. Used for snapshots (stop, migrate, cont, quit).
 */
import { AppError } from "../../../src/core/errors.ts";

type Reply = { return?: unknown; error?: { class: string; desc: string }; event?: string; QMP?: unknown };

export class Qmp {
  private buf = "";
  private waiters: ((r: Reply) => void)[] = [];
  private queued: Reply[] = [];
  private closed = false;

  private constructor(private readonly sock: import("bun").Socket<undefined>) {}

  /** Connects, retrying until the socket exists (QEMU creates it at start) or `timeoutMs` passes. */
  static async connect(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const q = await Qmp.open(path);
        await q.next(); // greeting
        await q.execute("qmp_capabilities");
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw new AppError("unavailable", `QMP socket ${path} did not answer: ${String(e)}`);
        await Bun.sleep(10);
      }
    }
  }

  private static open(path: string): Promise<Qmp> {
    let q: Qmp;
    return new Promise((resolve, reject) => {
      Bun.connect({
        unix: path,
        socket: {
          open: (s) => resolve((q = new Qmp(s))),
          data: (_s, d) => q.onData(d.toString()),
          close: () => q?.onClose(),
          error: (_s, e) => reject(e),
          connectError: (_s, e) => reject(e),
        },
      }).catch(reject);
    });
  }

  private onData(text: string): void {
    this.buf += text;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Reply;
      if (msg.event) continue;
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.queued.push(msg);
    }
  }

  private onClose(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w({ error: { class: "Closed", desc: "QMP connection closed" } });
  }

  private next(): Promise<Reply> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve({ error: { class: "Closed", desc: "QMP connection closed" } });
    return new Promise((r) => this.waiters.push(r));
  }

  async execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    const reply = this.next();
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + "\n");
    const r = await reply;
    if (r.error) throw new AppError("internal", `QMP ${command}: ${r.error.desc}`, { class: r.error.class });
    return r.return as T;
  }

  close(): void {
    this.sock.end();
  }
}
