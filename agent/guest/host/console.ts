/**
 * Host side of the guest console framing (agent/guest/lib.sh): each framed record is one line
 * "\x1e" TAG PAYLOAD "\n". Unframed lines (kernel messages) pass through as "sys" output.
 */
import type { OutputSink } from "../../vm/run.ts";

export interface ConsoleEvents {
  /** Guest userspace is up; `uptime` is the guest's own uptime in seconds. */
  ready(uptime: number): void;
  /** A snapshot template is waiting for its job's config. */
  waiting(): void;
  exit(code: number): void;
  /** A timing mark: guest uptime (s) when the init reached `stage`. */
  mark(stage: string, uptime: number): void;
}

const RS = "\x1e";

export class ConsoleParser {
  private buf = "";
  private exited = false;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly sink: OutputSink,
    private readonly events: Partial<ConsoleEvents> = {},
  ) {}

  push(chunk: Uint8Array): void {
    this.buf += this.decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.line(line);
    }
  }

  /** The exit code arrived (on the control channel): kernel lines after it are not the job's. */
  markExited(): void {
    this.exited = true;
  }

  /** End of the console stream: a trailing partial line is delivered as is. */
  end(): void {
    this.buf += this.decoder.decode();
    if (this.buf) this.line(this.buf);
    this.buf = "";
  }

  private line(line: string): void {
    const at = line.indexOf(RS);
    if (at < 0) {
      // Kernel lines after the job's exit code (the power-off) are not the job's business.
      const text = line.replace(/\r$/, "");
      if (text.trim() && !this.exited) this.sink("sys", text + "\n");
      return;
    }
    if (at > 0 && line.slice(0, at).trim()) this.sink("sys", line.slice(0, at).replace(/\r$/, "") + "\n");
    this.record(line[at + 1] ?? "", line.slice(at + 2));
  }

  private record(tag: string, payload: string): void {
    switch (tag) {
      case "O": return this.sink("out", payload + "\n");
      case "E": return this.sink("err", payload + "\n");
      case "S": return this.sink("sys", payload + "\n");
      case "R": return this.events.ready?.(Number(payload) || 0);
      case "W": return this.events.waiting?.();
      case "X":
        this.exited = true;
        return this.events.exit?.(Number.parseInt(payload, 10));
      case "T": {
        const [up, stage] = payload.split(" ");
        return this.events.mark?.(stage ?? "", Number(up));
      }
      default: this.sink("sys", payload + "\n");
    }
  }
}
