/**
 * Instance records of the qemu driver: one JSON file per instance in the driver's state dir,
 * written at prepare and removed at destroy, plus the live QEMU processes found by their
 * `-name guest=nimbus-...` argument. Together they are what `list()` reports for reconciliation.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { INSTANCE_PREFIX, type Instance } from "../../vm/run.ts";

export class InstanceRecords {
  constructor(private readonly dir: string) {}

  private path(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  save(inst: Instance): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.path(inst.name), JSON.stringify(inst));
  }

  get(name: string): Instance | undefined {
    try {
      return JSON.parse(readFileSync(this.path(name), "utf8")) as Instance;
    } catch {
      return undefined;
    }
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  all(): Instance[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.startsWith(INSTANCE_PREFIX) && f.endsWith(".json"))
      .flatMap((f) => {
        try {
          return [JSON.parse(readFileSync(join(this.dir, f), "utf8")) as Instance];
        } catch {
          return [];
        }
      });
  }
}

export interface VmmProcess {
  pid: number;
  name: string;
  /** The instance's VM directory, from the `-pidfile` argument. */
  vmDir?: string;
}

/** Live processes whose argv has `-name guest=nimbus-...` (QEMU) or `--id nimbus-...` (Firecracker). */
export function findVmmProcesses(binaryHint: string, ownerArg?: string): VmmProcess[] {
  const out: VmmProcess[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv[0]?.includes(binaryHint)) continue;
    const name = nameArg(argv);
    if (!name?.startsWith(INSTANCE_PREFIX)) continue;
    if (ownerArg && !argv.includes(ownerArg)) continue;
    const pidFile = argv[argv.indexOf("-pidfile") + 1];
    out.push({ pid: Number(pid), name, vmDir: argv.includes("-pidfile") && pidFile ? dirname(pidFile) : undefined });
  }
  return out;
}

function nameArg(argv: string[]): string | undefined {
  const i = argv.indexOf("-name");
  if (i >= 0) return /guest=([^,]+)/.exec(argv[i + 1] ?? "")?.[1];
  const j = argv.indexOf("--id");
  return j >= 0 ? argv[j + 1] : undefined;
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** SIGKILL and wait (up to 5 s) until the process is gone or a zombie. */
export async function killAndWait(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  for (let i = 0; i < 500 && isAlive(pid); i++) await Bun.sleep(10);
}

/** An instance found on the machine but not in the records (a crashed agent's VM). */
export function orphanInstance(driver: string, name: string, pid: number, vmDir?: string): Instance {
  const rest = name.slice(INSTANCE_PREFIX.length);
  const dash = rest.lastIndexOf("-");
  const dir = vmDir ? dirname(vmDir) : "";
  return { driver, name, jobId: rest.slice(0, dash), attempt: Number(rest.slice(dash + 1)) || 0, dir, pid, meta: { vmDir, orphan: true } };
}

/** Records plus live processes, merged by name. */
export function listInstances(driver: string, records: InstanceRecords, procs: VmmProcess[]): Instance[] {
  const byName = new Map(records.all().map((i) => [i.name, i]));
  for (const p of procs) {
    const known = byName.get(p.name);
    byName.set(p.name, known ? { ...known, pid: p.pid } : orphanInstance(driver, p.name, p.pid, p.vmDir));
  }
  return [...byName.values()];
}
