/**
 * One running VMM process (QEMU here; the console protocol is the guest's, shared with Firecracker):
 * its console is parsed into output and guest events, its end becomes the job's exit result.
 *
 * With a control socket (QEMU's virtio-serial port `nimbus.ctl`, see agent/guest/lib.sh) the
 * guest's control records (waiting, timing marks, the exit code) arrive there, apart from the
 * console's output and kernel messages, and the doorbell is written there. Without one
 * (Firecracker) everything shares the console.
 */
import type { Socket, Subprocess } from "bun";
import { ConsoleParser } from "./console.ts";
import type { ExitResult, OutputSink } from "../../vm/run.ts";

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
  /** Resolves once the host is connected to the control channel (at once without one). */
  control: Promise<void>;
}

export interface SpawnOptions {
  cwd?: string;
  /** The VMM's control channel: a unix socket it listens on (QEMU `-chardev socket,server=on`). */
  controlSocket?: string;
}

/** How long an exited VMM's control stream may take to deliver its last records. */
const CONTROL_DRAIN_MS = 2_000;

/** Exit status when the guest never reported one (init failure, VMM crash, stop). */
export const NO_REPORT_EXIT = 125;

export function spawnVm(argv: string[], sink: OutputSink, opts: SpawnOptions = {}): VmProcess {
  let onReady!: (u: number) => void, onWaiting!: () => void, failBoot!: (e: Error) => void;
  const waiters: (() => void)[] = [];
  const ready = new Promise<number>((res, rej) => ((onReady = res), (failBoot = rej)));
  const waiting = new Promise<void>((res) => (onWaiting = res));
  ready.catch(() => undefined);
  let code: number | undefined;
  let killed = false;
  const marks: VmProcess["marks"] = [];
  const events = {
    ready: (u: number) => onReady(u),
    waiting: () => {
      onWaiting();
      for (const w of waiters.splice(0)) w();
    },
    exit: (c: number) => {
      code = c;
      parser.markExited();
    },
    mark: (stage: string, uptime: number) => marks.push({ stage, uptime, at: performance.now() }),
  };
  const parser = new ConsoleParser(sink, events);
  const proc: Subprocess<"pipe", "pipe", "pipe"> = Bun.spawn(argv, { cwd: opts.cwd, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const ctl = opts.controlSocket ? connectControl(opts.controlSocket, new ConsoleParser(sink, events), proc.exited) : undefined;
  const drained = Promise.all([
    pump(proc.stdout, (c) => parser.push(c)).then(() => parser.end()),
    pump(proc.stderr, (c) => sink("sys", new TextDecoder().decode(c))),
    proc.exited.then(() => (ctl ? Promise.race([ctl.closed, Bun.sleep(CONTROL_DRAIN_MS)]) : undefined)),
  ]);
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
    control: ctl ? ctl.connected.then(() => undefined) : Promise.resolve(),
    ring: (word = "go") => {
      try {
        const sock = ctl?.socket();
        if (sock) sock.write(`${word}\n`);
        else {
          proc.stdin.write(`${word}\n`);
          proc.stdin.flush();
        }
      } catch {
        // the VMM is gone; its exit is reported through `exited`
      }
    },
  };
}

/**
 * Connects to the VMM's control socket as soon as it exists (the VMM creates it at start), feeding
 * what arrives to `parser`; gives up when the VMM exits first. `connected` rejects then.
 */
function connectControl(path: string, parser: ConsoleParser, vmmExited: Promise<unknown>) {
  let sock: Socket | undefined;
  let gone = false;
  void vmmExited.then(() => (gone = true));
  let onClosed!: () => void;
  const closed = new Promise<void>((r) => (onClosed = r));
  const connected = (async () => {
    for (;;) {
      if (gone) {
        onClosed();
        throw new Error("the VMM exited before its control channel was connected");
      }
      try {
        sock = await Bun.connect({
          unix: path,
          socket: {
            data: (_s, d) => parser.push(d),
            close: () => {
              parser.end();
              onClosed();
            },
            error: () => undefined,
          },
        });
        return sock;
      } catch {
        await Bun.sleep(2);
      }
    }
  })();
  connected.catch(() => undefined);
  return { connected, closed, socket: () => sock };
}

async function pump(stream: ReadableStream<Uint8Array>, each: (c: Uint8Array) => void): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    each(value);
  }
}
