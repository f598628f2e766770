/**
 * This replica's copy of the cache index in SQLite (bun:sqlite), for queries: the entries of every
 * replica, kept current from the shared index in NATS KV (shared/entries.ts, the only writer of entry
 * rows), plus what is this replica's alone: the parts of its uploads in progress and their block
 * lists. An entry is unique per (org, repo, scope, key, version) whether uploading or ready, so a
 * second writer is refused; only `ready` entries are ever returned by lookups, and only within the
 * caller's org: two organisations with a repository of the same name never share an entry.
 */
import { Database } from "bun:sqlite";
import { privateSqlite } from "../core/private-files.ts";
import type { CacheEntry, EntryState, Part, Protocol, Segment } from "./model.ts";

const SCHEMA = `
create table if not exists entries (
  id integer primary key autoincrement,
  repo text not null, org text not null, scope text not null, key text not null, version text not null,
  state text not null, protocol text not null, declared_size integer, size integer not null default 0,
  created_at integer not null, committed_at integer, last_used_at integer not null,
  block_list text, segments text not null default '[]',
  kv_key text, rev integer, home text not null default '', shared integer not null default 0
);
create unique index if not exists entries_identity_org on entries(org, repo, scope, key, version);
create index if not exists entries_lookup_org on entries(org, repo, scope, version, state, key);
create index if not exists entries_lru on entries(state, last_used_at);
create table if not exists parts (
  entry_id integer not null, name text not null, start integer, size integer not null, object text not null,
  primary key (entry_id, name)
);`;

interface Row {
  id: number; repo: string; org: string; scope: string; key: string; version: string; state: EntryState; protocol: Protocol;
  declared_size: number | null; size: number; created_at: number; committed_at: number | null; last_used_at: number;
  block_list: string | null; segments: string; home: string; shared: number;
}

function toEntry(r: Row): CacheEntry {
  return {
    id: r.id, repo: r.repo, org: r.org, scope: r.scope, key: r.key, version: r.version, state: r.state, protocol: r.protocol,
    declaredSize: r.declared_size, size: r.size, createdAt: r.created_at, committedAt: r.committed_at, lastUsedAt: r.last_used_at,
    blockList: r.block_list ? JSON.parse(r.block_list) : null, segments: JSON.parse(r.segments) as Segment[],
    home: r.home, shared: r.shared === 1,
  };
}

export interface NewEntry {
  repo: string; org: string; scope: string; key: string; version: string; protocol: Protocol; declaredSize: number | null;
}

/** What the shared index holds of an entry (this replica's block list stays local). */
export type SharedFields = Omit<CacheEntry, "blockList">;

export interface EntryFilter {
  repo?: string;
  org?: string;
  key?: string;
  state?: EntryState;
  limit?: number;
}

export class CacheIndex {
  private readonly db: Database;
  constructor(path: string) {
    privateSqlite(path); // 0600, and so are its -wal and -shm files
    this.db = new Database(path, { create: true, strict: true });
    this.db.run("pragma journal_mode = wal");
    this.db.run("pragma busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.migrate();
  }

  /**
   * Version 1: `org` is the tenant, no longer the repository's owner. Entries from before belong to
   * "default" (the org of tokens that name none), and the identity includes the org.
   */
  private migrate(): void {
    const version = (this.db.query("pragma user_version").get() as { user_version: number }).user_version;
    if (version < 1) {
      this.db.transaction(() => {
        this.db.run("drop index if exists entries_identity");
        this.db.run("drop index if exists entries_lookup");
        this.db.run("update entries set org = 'default'");
        this.db.run("pragma user_version = 1");
      })();
    }
    // Version 2: entries come from the shared index. Rows from before have no revision (see legacy()).
    const cols = (this.db.query("pragma table_info(entries)").all() as { name: string }[]).map((c) => c.name);
    if (!cols.includes("kv_key")) {
      this.db.transaction(() => {
        for (const c of ["kv_key text", "rev integer", "home text not null default ''", "shared integer not null default 0"]) this.db.run(`alter table entries add column ${c}`);
      })();
    }
    this.db.run("create unique index if not exists entries_kv_key on entries(kv_key)");
    this.db.run("pragma user_version = 2");
  }

  /**
   * Apply the shared index's value of an entry at revision `rev` (its create revision is its id):
   * newer than what is here, it replaces the row (and any row of the same key, from an earlier
   * life of that identity); older, it is ignored.
   */
  apply(kvKey: string, rev: number, e: SharedFields): void {
    this.db.transaction(() => {
      const have = this.db.query("select rev from entries where kv_key = ? and id = ?").get(kvKey, e.id) as { rev: number } | null;
      if (have && have.rev >= rev) return;
      for (const stale of this.db.query("select id from entries where kv_key = ? and id != ?").all(kvKey, e.id) as { id: number }[]) this.forgetRow(stale.id);
      this.db
        .query(`insert into entries (id, repo, org, scope, key, version, state, protocol, declared_size, size, created_at, committed_at, last_used_at, segments, kv_key, rev, home, shared)
                values ($id, $repo, $org, $scope, $key, $version, $state, $protocol, $declaredSize, $size, $createdAt, $committedAt, $lastUsedAt, $segments, $kvKey, $rev, $home, $shared)
                on conflict(id) do update set state = excluded.state, size = excluded.size, declared_size = excluded.declared_size, committed_at = excluded.committed_at,
                  last_used_at = max(entries.last_used_at, excluded.last_used_at), segments = excluded.segments, rev = excluded.rev, home = excluded.home, shared = excluded.shared`)
        .run({
          id: e.id, repo: e.repo, org: e.org, scope: e.scope, key: e.key, version: e.version, state: e.state, protocol: e.protocol, declaredSize: e.declaredSize,
          size: e.size, createdAt: e.createdAt, committedAt: e.committedAt, lastUsedAt: e.lastUsedAt, segments: JSON.stringify(e.segments), kvKey, rev, home: e.home, shared: e.shared ? 1 : 0,
        });
    })();
  }

  /** The shared index deleted `kvKey` at revision `rev`: drop the row it held before that. */
  drop(kvKey: string, rev: number): void {
    const row = this.db.query("select id, rev from entries where kv_key = ?").get(kvKey) as { id: number; rev: number } | null;
    if (row && row.rev < rev) this.forgetRow(row.id);
  }

  private forgetRow(id: number): void {
    this.db.query("delete from parts where entry_id = ?").run(id);
    this.db.query("delete from entries where id = ?").run(id);
  }

  /** Rows from before the shared index (no revision): their data is to be deleted and the rows dropped. */
  legacy(): CacheEntry[] {
    return (this.db.query("select * from entries where rev is null").all() as Row[]).map(toEntry);
  }

  /** Drop a row and its parts (a legacy row, or one the shared index no longer has). */
  forget(id: number): void {
    this.db.transaction(() => this.forgetRow(id))();
  }

  get(id: number): CacheEntry | undefined {
    const row = this.db.query("select * from entries where id = ?").get(id) as Row | null;
    return row ? toEntry(row) : undefined;
  }

  byIdentity(org: string, repo: string, scope: string, key: string, version: string): CacheEntry | undefined {
    const row = this.db.query("select * from entries where org = ? and repo = ? and scope = ? and key = ? and version = ?").get(org, repo, scope, key, version) as Row | null;
    return row ? toEntry(row) : undefined;
  }

  /** Ready entries of one org's repository in one scope whose key equals (or starts with) `key`, newest first. */
  match(org: string, repo: string, scope: string, version: string, key: string, prefix: boolean): CacheEntry | undefined {
    const cond = prefix ? "substr(key, 1, length($key)) = $key" : "key = $key";
    const row = this.db
      .query(`select * from entries where org = $org and repo = $repo and scope = $scope and version = $version and state = 'ready' and ${cond}
              order by committed_at desc, id desc limit 1`)
      .get({ org, repo, scope, version, key }) as Row | null;
    return row ? toEntry(row) : undefined;
  }

  touch(id: number, now: number): void {
    this.db.query("update entries set last_used_at = ? where id = ?").run(now, id);
  }

  putPart(entryId: number, p: Part, now: number): void {
    this.db.transaction(() => {
      this.db.query("insert or replace into parts (entry_id, name, start, size, object) values (?, ?, ?, ?, ?)").run(entryId, p.name, p.start, p.size, p.object);
      this.db.query("update entries set last_used_at = ? where id = ?").run(now, entryId);
    })();
  }

  removePart(entryId: number, name: string): void {
    this.db.query("delete from parts where entry_id = ? and name = ?").run(entryId, name);
  }

  /** Replace all parts of an entry by one (after composing them into a single object). */
  replaceParts(entryId: number, p: Part, now: number): void {
    this.db.transaction(() => {
      this.db.query("delete from parts where entry_id = ?").run(entryId);
      this.putPart(entryId, p, now);
    })();
  }

  parts(entryId: number): Part[] {
    return this.db.query("select name, start, size, object from parts where entry_id = ? order by start, name").all(entryId) as Part[];
  }

  setBlockList(id: number, names: string[], now: number): void {
    this.db.query("update entries set block_list = ?, last_used_at = ? where id = ?").run(JSON.stringify(names), now, id);
  }

  /** Local part records of an entry (after its commit, or when it is discarded). */
  clearParts(entryId: number): void {
    this.db.query("delete from parts where entry_id = ?").run(entryId);
  }

  list(f: EntryFilter): CacheEntry[] {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: f.limit ?? 1000 };
    if (f.repo) (where.push("repo = $repo"), (params.repo = f.repo));
    if (f.org) (where.push("org = $org"), (params.org = f.org));
    if (f.key) (where.push("substr(key, 1, length($key)) = $key"), (params.key = f.key));
    if (f.state) (where.push("state = $state"), (params.state = f.state));
    const sql = `select * from entries ${where.length ? "where " + where.join(" and ") : ""} order by last_used_at desc, id desc limit $limit`;
    return (this.db.query(sql).all(params) as Row[]).map(toEntry);
  }

  /**
   * Bytes held per repo or per org: ready entries plus what uploads have stored so far. `org`
   * restricts it to one organisation (per repo: that org's repositories only; a repository of the
   * same name in another org is counted apart).
   */
  usage(by: "repo" | "org", name?: string, org?: string): { name: string; bytes: number; entries: number }[] {
    const where: string[] = [];
    const params: Record<string, string> = {};
    if (name) (where.push(`${by} = $name`), (params.name = name));
    if (org) (where.push("org = $org"), (params.org = org));
    const group = by === "repo" ? "org, repo" : "org";
    const sql = `select ${by} as name, sum(size + coalesce((select sum(p.size) from parts p where p.entry_id = entries.id), 0)) as bytes,
                 count(*) as entries from entries ${where.length ? "where " + where.join(" and ") : ""} group by ${group} order by bytes desc, name`;
    return this.db.query(sql).all(params) as { name: string; bytes: number; entries: number }[];
  }

  totalBytes(): number {
    return (this.db.query("select coalesce(sum(size), 0) as n from entries where state = 'ready'").get() as { n: number }).n;
  }

  /** Ready entries, least recently used first, optionally within one org, or one org's repository. */
  lru(where: { org?: string; repo?: string }, limit = 500): CacheEntry[] {
    const cond = [where.org ? "and org = $org" : "", where.repo ? "and repo = $repo" : ""].join(" ");
    const params: Record<string, string | number> = { limit };
    if (where.repo) params.repo = where.repo;
    if (where.org) params.org = where.org;
    return (this.db.query(`select * from entries where state = 'ready' ${cond} order by last_used_at asc, id asc limit $limit`).all(params) as Row[]).map(toEntry);
  }

  /** Ready entries of `home` unused since `cutoff`. */
  unusedSince(cutoff: number, home: string): CacheEntry[] {
    return (this.db.query("select * from entries where state = 'ready' and last_used_at < ? and home = ?").all(cutoff, home) as Row[]).map(toEntry);
  }

  /** Uploads `home` took that have been idle since `cutoff`. */
  abandoned(cutoff: number, home: string): CacheEntry[] {
    return (this.db.query("select * from entries where state = 'uploading' and last_used_at < ? and home = ?").all(cutoff, home) as Row[]).map(toEntry);
  }

  close(): void {
    this.db.close();
  }
}
