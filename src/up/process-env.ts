/**
 * The settings a running service process actually started with: its environment as the kernel
 * recorded it at exec (/proc/PID/environ), plus the file NIMBUS_CONFIG names, read relative to
 * the process's own working directory. This is how `nimbus config` checks the stack it finds
 * rather than the shell it runs in.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { AppError } from "../core/errors.ts";

/** NIMBUS_* variables of process `pid` (only those: the rest is none of our business). */
export function processEnv(pid: number): Record<string, string> {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/environ`, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AppError(code === "ENOENT" ? "not_found" : "forbidden", `cannot read the environment of process ${pid} (${code}); check the current shell instead with --env`);
  }
  const env: Record<string, string> = {};
  for (const entry of raw.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0 && entry.startsWith("NIMBUS_")) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  if (env.NIMBUS_CONFIG && !isAbsolute(env.NIMBUS_CONFIG)) {
    try {
      env.NIMBUS_CONFIG = join(readlinkSync(`/proc/${pid}/cwd`), env.NIMBUS_CONFIG);
    } catch {
      // Left relative: loading it then names the file it could not find.
    }
  }
  return env;
}
