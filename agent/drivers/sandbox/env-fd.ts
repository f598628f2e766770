/**
 * Hands bwrap the job's environment on a file descriptor instead of its command line. The bytes go
 * to a root-only (0600) file in memory (/dev/shm; the instance's own directory where there is none),
 * which is opened and unlinked before the job starts: the open descriptor is all that is left, and
 * bwrap reads it to the end and closes it before the job runs.
 */
import { closeSync, existsSync, openSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ENV_FD, envArgs, LAUNCH_ENV } from "./args.ts";

if (ENV_FD !== 3) throw new Error("spawnSandbox passes the environment as the child's descriptor 3");

export function envFd(bytes: string, instanceDir: string): { fd: number; close(): void } {
  const dir = existsSync("/dev/shm") ? "/dev/shm" : instanceDir;
  const path = join(dir, `nimbus-env-${randomBytes(8).toString("hex")}`);
  writeFileSync(path, bytes, { mode: 0o600, flag: "wx" });
  let fd: number;
  try {
    fd = openSync(path, "r");
  } finally {
    unlinkSync(path);
  }
  return { fd, close: () => closeSync(fd) };
}

/** Spawns a `bwrapArgv` command with the job's environment on ENV_FD and nothing of the agent's environment. */
export function spawnSandbox(argv: string[], env: Record<string, string>, instanceDir: string, out: "pipe" | "ignore" = "pipe", err: "pipe" | "ignore" = "pipe") {
  const e = envFd(envArgs(env), instanceDir);
  try {
    // The descriptor lands at 3 (ENV_FD), where bwrap's `--args` reads it.
    return Bun.spawn(argv, { stdio: ["ignore", out, err, e.fd], env: LAUNCH_ENV });
  } finally {
    e.close();
  }
}
