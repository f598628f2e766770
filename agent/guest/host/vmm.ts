/**
 * One running VMM process (QEMU here; the console protocol is the guest's, shared with Firecracker):
 * its console is parsed into output and guest events, its end becomes the job's exit result.
 */
import type { Subprocess } from "bun";
import { ConsoleParser } from "./console.ts";
import type { ExitResult, OutputSink } from "../../drivers/types.ts";

export interface VmProcess {
  pid: number;
  /** Resolves at the guest's ready record (guest uptime in s); rejects if the VMM ends first. */
  ready: Promise<number>;
  /** Resolves at the "waiting for config" record of a snapshot template. */
  waiting: Promise<void>;
  /** The VMM has exited and its console is fully delivered. */
  exited: Promise<ExitResult>;
  kill(): void;
  /**
   * Rings the doorbell of a warm guest (a line on its console): "go", its config disk now holds the
   * job; "warm", warm up again (after a restore) and report waiting anew (`waitingAgain`).
   */
  ring(word?: "go" | "warm"): void;
  /** Resolves at the next "waiting" record after now (the answer to ring("warm")). */
  waitingAgain(): Promise<void>;
  /** Timing marks from the guest init, with the host time (performance.now()) they arrived. */
  marks: { stage: string; uptime: number; at: number }[];
}

/** Exit status when the guest never reported one (init failure, VMM crash, stop). */
export const NO_REPORT_EXIT = 125;

export function spawnVm(argv: string[], sink: OutputSink, cwd?: string): VmProcess {
  let onReady!: (u: number) => void, onWaiting!: () => void, failBoot!: (e: Error) => void;
  const waiters: (() => void)[] = [];
  const ready = new Promise<number>((res, rej) => ((onReady = res), (failBoot = rej)));
  const waiting = new Promise<void>((res) => (onWaiting = res));
  ready.catch(() => undefined);
  let code: number | undefined;
  let killed = false;
  const marks: VmProcess["marks"] = [];
  const parser = new ConsoleParser(sink, {
    ready: (u) => onReady(u),
    waiting: () => {
      onWaiting();
      for (const w of waiters.splice(0)) w();
    },
    exit: (c) => (code = c),
    mark: (stage, uptime) => marks.push({ stage, uptime, at: performance.now() }),
  });
  const proc: Subprocess<"pipe", "pipe", "pipe"> = Bun.spawn(argv, { cwd, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const drained = Promise.all([pump(proc.stdout, (c) => parser.push(c)).then(() => parser.end()), pump(proc.stderr, (c) => sink("sys", new TextDecoder().decode(c)))]);
  const exited = Promise.all([proc.exited, drained]).then(([status]): ExitResult => {
    failBoot(new Error(`VMM exited (status ${status}) before the guest was ready`));
    if (code !== undefined && !Number.isNaN(code)) return { exitCode: code };
    if (killed || proc.signalCode) return { exitCode: 128 + 9, signal: String(proc.signalCode ?? "SIGKILL") };
    sink("sys", `nimbus: the VM ended without reporting an exit code (VMM status ${status})\n`);
    return { exitCode: NO_REPORT_EXIT };
  });
  return {
    pid: proc.pid,
    ready,
    waiting,
    exited,
    marks,
    kill: () => {
      killed = true;
      proc.kill("SIGKILL");
    },
    waitingAgain: () => new Promise<void>((res) => waiters.push(res)),
    ring: (word = "go") => {
      try {
        proc.stdin.write(`${word}\n`);
        proc.stdin.flush();
      } catch {
        // the VMM is gone; its exit is reported through `exited`
      }
    },
  };
}

async function pump(stream: ReadableStream<Uint8Array>, each: (c: Uint8Array) => void): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    each(value);
  }
}
