/**
 * Turns a job's output chunks into numbered lines in the spool: split at newlines (long lines
 * folded at 16 KiB), secret values masked as GitHub does (`***`).
 */
import type { OutputStream } from "../drivers/types.ts";
import type { AgentStore, SpoolLine } from "../store.ts";

const MAX_LINE = 16 * 1024;

export class LineCapture {
  private n = 0;
  private partial: Record<OutputStream, string> = { out: "", err: "", sys: "" };
  private pending: SpoolLine[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly secrets: string[];

  constructor(
    private readonly store: AgentStore,
    private readonly jobId: string,
    private readonly attempt: number,
    secrets: string[],
    private readonly onSpooled: () => void,
  ) {
    this.secrets = secrets.filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  }

  get lines(): number {
    return this.n;
  }

  private mask(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join("***");
    return out;
  }

  private push(stream: OutputStream, text: string): void {
    this.pending.push({ jobId: this.jobId, attempt: this.attempt, n: this.n++, ts: Date.now(), stream, text: this.mask(text) });
    this.timer ??= setTimeout(() => this.flush(), 50);
  }

  write(stream: OutputStream, chunk: string): void {
    let buf = this.partial[stream] + chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      this.push(stream, buf.slice(0, i).replace(/\r$/, ""));
      buf = buf.slice(i + 1);
    }
    while (buf.length > MAX_LINE) {
      this.push(stream, buf.slice(0, MAX_LINE));
      buf = buf.slice(MAX_LINE);
    }
    this.partial[stream] = buf;
  }

  /** A line from Nimbus itself about the job (boot, timeout, cancel). */
  system(text: string): void {
    this.push("sys", text);
  }

  /** Move buffered lines into the spool (SQLite) so a crash loses nothing already captured. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending.length) return;
    this.store.spoolLines(this.pending);
    this.pending = [];
    this.onSpooled();
  }

  /** Flush partial lines and record the attempt's end marker. */
  close(exitCode: number | null): void {
    for (const s of ["out", "err", "sys"] as const) if (this.partial[s]) this.push(s, this.partial[s]);
    this.partial = { out: "", err: "", sys: "" };
    this.flush();
    this.store.spoolEnd({ jobId: this.jobId, attempt: this.attempt, lines: this.n, exitCode });
    this.onSpooled();
  }
}
