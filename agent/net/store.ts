/**
 * Network state of the agent's VMs in SQLite (bun:sqlite): one row per instance with its tap, MAC
 * and guest address. Allocation takes the lowest free host number in the subnet, so a restart
 * reuses what is recorded and never hands out an address twice. It also records which host devices
 * the agent created itself, so stopping removes those and nothing that was there before.
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

export type OwnedKind = "bridge" | "nft-table";

export class NetStore {
  private readonly db: Database;

  constructor(path: string) {
    this.db = new Database(path, { create: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
    this.db.exec(`CREATE TABLE IF NOT EXISTS vm_net (
      name TEXT PRIMARY KEY, tap TEXT NOT NULL UNIQUE, mac TEXT NOT NULL, host INTEGER NOT NULL UNIQUE, created_at INTEGER NOT NULL)`);
    // Host devices this agent created (a bridge, an nftables table): only these are removed on stop.
    this.db.exec("CREATE TABLE IF NOT EXISTS owned (kind TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (kind, name))");
  }

  /** Record that we are about to create `name` (before creating it, so a crash in between leaks nothing). */
  own(kind: OwnedKind, name: string): void {
    this.db.query("INSERT OR IGNORE INTO owned (kind, name, created_at) VALUES (?, ?, ?)").run(kind, name, Date.now());
  }

  owns(kind: OwnedKind, name: string): boolean {
    return this.db.query<{ n: number }, [string, string]>("SELECT count(*) AS n FROM owned WHERE kind = ? AND name = ?").get(kind, name)!.n > 0;
  }

  disown(kind: OwnedKind, name: string): void {
    this.db.query("DELETE FROM owned WHERE kind = ? AND name = ?").run(kind, name);
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
