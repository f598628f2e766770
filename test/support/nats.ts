/**
 * A real nats-server for tests: JetStream on, its own temp dir and free ports, started in its own
 * process group (so a test that kills its own group leaves it alone) and stopped at the end.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./net.ts";

export interface NatsServer {
  url: string;
  port: number;
  monitorPort: number;
  dir: string;
  pid: number;
  stop(): Promise<void>;
  /** Stop and start again on the same port and store (a NATS restart). */
  restart(): Promise<void>;
}

async function spawnNats(port: number, monitorPort: number, dir: string, extraConfig?: string) {
  const args = ["-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "-js", "-sd", dir];
  if (extraConfig !== undefined) {
    // Flags win over the file; the file adds what has no flag (authorization users).
    const conf = join(dir, "extra.conf");
    writeFileSync(conf, extraConfig, { mode: 0o600 });
    args.push("-c", conf);
  }
  const proc = Bun.spawn(["setsid", "nats-server", ...args], {
    stdout: "ignore",
    stderr: "ignore",
  });
  await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`).catch(() => null);
    return r?.ok ?? false;
  }, 10_000, "nats-server healthz");
  return proc;
}

/** `extraConfig`: nats-server config text added to the flags (e.g. an `authorization { users }` block). */
export async function startNats(opts: { extraConfig?: string } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-nats-"));
  const port = await freePort();
  const monitorPort = await freePort();
  let proc = await spawnNats(port, monitorPort, dir, opts.extraConfig);
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    dir,
    pid: proc.pid,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      proc.kill("SIGTERM");
      await proc.exited;
      proc = await spawnNats(port, monitorPort, dir, opts.extraConfig);
      server.pid = proc.pid;
    },
  };
  return server;
}
