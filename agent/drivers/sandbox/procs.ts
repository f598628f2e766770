/** Find sandbox processes on the machine by the instance marker in their command line. */
import { readdirSync, readFileSync } from "node:fs";

/** Pids whose command line contains `NIMBUS_INSTANCE` set to `name` (or any `nimbus-` instance when name is omitted). */
export function findInstancePids(name?: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // exited meanwhile
    }
    if (argv[0] !== "bwrap" && argv[0] !== "setpriv") continue;
    const i = argv.indexOf("NIMBUS_INSTANCE");
    const value = i > 0 && argv[i - 2] === "--setenv" ? argv[i + 1] : undefined;
    if (value && (name ? value === name : value.startsWith("nimbus-"))) found.set(Number(entry), value);
  }
  return found;
}

export function killPids(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
