/** Find sandbox processes on the machine by the instance marker in their command line. */
import { readdirSync, readFileSync } from "node:fs";

function envArg(argv: string[], key: string): string | undefined {
  const i = argv.indexOf(key);
  return i > 0 && argv[i - 1] === "--setenv" ? argv[i + 1] : undefined;
}

/** Pids of sandboxes named `name` (or, without a name, every sandbox of `owner`). */
export function findInstancePids(name?: string, owner?: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // exited meanwhile
    }
    if (argv[0] !== "bwrap" && argv[0] !== "setpriv" && argv[0] !== "ip") continue; // ip: `ip netns exec` before it execs setpriv
    const value = envArg(argv, "NIMBUS_INSTANCE");
    if (!value || (owner && envArg(argv, "NIMBUS_AGENT") !== owner)) continue;
    if (name ? value === name : value.startsWith("nimbus-")) found.set(Number(entry), value);
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
