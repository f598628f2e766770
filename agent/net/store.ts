/**
 * Network state of the agent's VMs in SQLite (bun:sqlite): one row per instance with its tap, MAC
 * and guest address. Allocation takes the lowest free host number in the subnet, so a restart
 * reuses what is recorded and never hands out an address twice.
 */
import { Database } from "bun:sqlite";
import { AppError } from "../../src/core/errors.ts";

export interface NetLease {
  name: string;
  tap: string;
  mac: string;
  /** Host number inside the subnet (2..). */
  host: number;
}

export class NetStore {
  private readonly db: Database;

  constructor(path: string) {
    this.db = new Database(path, { create: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
    this.db.exec(`CREATE TABLE IF NOT EXISTS vm_net (
      name TEXT PRIMARY KEY, tap TEXT NOT NULL UNIQUE, mac TEXT NOT NULL, host INTEGER NOT NULL UNIQUE, created_at INTEGER NOT NULL)`);
  }

  get(name: string): NetLease | undefined {
    return this.db.query<NetLease, [string]>("SELECT name, tap, mac, host FROM vm_net WHERE name = ?").get(name) ?? undefined;
  }

  all(): NetLease[] {
    return this.db.query<NetLease, []>("SELECT name, tap, mac, host FROM vm_net ORDER BY host").all();
  }

  /** The instance's lease, allocating one (in one transaction) if it has none. */
  lease(name: string, tap: string, maxHost: number, macFor: (host: number) => string): NetLease {
    return this.db.transaction(() => {
      const have = this.get(name);
      if (have) return have;
      const used = new Set(this.db.query<{ host: number }, []>("SELECT host FROM vm_net").all().map((r) => r.host));
      let host = 2;
      while (used.has(host)) host++;
      if (host > maxHost) throw new AppError("unavailable", `no free guest address (${used.size} in use)`);
      const lease: NetLease = { name, tap, mac: macFor(host), host };
      this.db.query("INSERT INTO vm_net (name, tap, mac, host, created_at) VALUES (?, ?, ?, ?, ?)").run(name, tap, lease.mac, host, Date.now());
      return lease;
    })();
  }

  release(name: string): void {
    this.db.query("DELETE FROM vm_net WHERE name = ?").run(name);
  }

  close(): void {
    this.db.close();
  }
}
