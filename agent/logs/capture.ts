/**
 * Turns a job's output chunks into numbered lines in the spool: secrets masked on each stream as a
 * stream (agent/logs/mask.ts: across writes, lines and the fold), then split at newlines, long
 * lines folded at 16 KiB.
 *
 * The masker holds back at most the longest pattern minus one character, and only text after the
 * last newline (no pattern holds a line break): that text is part of an unfinished line, which is
 * not spooled before its newline, the fold or the end anyway, so holding it back delays nothing.
 */
import type { OutputStream } from "../drivers/types.ts";
import type { AgentStore, SpoolLine } from "../store.ts";
import { StreamMasker } from "./mask.ts";

export const MAX_LINE = 16 * 1024;
const STREAMS = ["out", "err", "sys"] as const;

export class LineCapture {
  private n = 0;
  private partial: Record<OutputStream, string> = { out: "", err: "", sys: "" };
  private pending: SpoolLine[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly maskers: Record<OutputStream, StreamMasker>;
  private readonly secrets: string[];

  constructor(
    private readonly store: AgentStore,
    private readonly jobId: string,
    private readonly attempt: number,
    secrets: string[],
    private readonly onSpooled: () => void,
  ) {
    this.secrets = secrets;
    this.maskers = { out: new StreamMasker(secrets), err: new StreamMasker(secrets), sys: new StreamMasker(secrets) };
  }

  get lines(): number {
    return this.n;
  }

  private push(stream: OutputStream, text: string): void {
    this.pending.push({ jobId: this.jobId, attempt: this.attempt, n: this.n++, ts: Date.now(), stream, text });
    this.timer ??= setTimeout(() => this.flush(), 50);
  }

  /** Split masked text into lines (folding long ones), keeping the unfinished rest. */
  private split(stream: OutputStream, masked: string): void {
    let buf = this.partial[stream] + masked;
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

  write(stream: OutputStream, chunk: string): void {
    this.split(stream, this.maskers[stream].write(chunk));
  }

  /** A line from Nimbus itself about the job (boot, timeout, cancel): masked too (an error may quote a secret). */
  system(text: string): void {
    const m = new StreamMasker(this.secrets);
    this.push("sys", m.write(text) + m.end());
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

  /** Flush what the maskers hold and the partial lines, and record the attempt's end marker. */
  close(exitCode: number | null): void {
    for (const s of STREAMS) this.split(s, this.maskers[s].end());
    for (const s of STREAMS) if (this.partial[s]) this.push(s, this.partial[s]);
    this.partial = { out: "", err: "", sys: "" };
    this.flush();
    this.store.spoolEnd({ jobId: this.jobId, attempt: this.attempt, lines: this.n, exitCode });
    this.onSpooled();
  }
}
