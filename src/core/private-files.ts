/**
 * Data files are the owner's alone: directories 0700, files 0600. SQLite gives its -wal and -shm
 * files the database file's permissions, so a database created 0600 before it is opened keeps all
 * three private; an existing one (made by an older version) is tightened on open.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";

/** Create `dir` (and parents) owner-only, and make it owner-only if it already existed. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Make `path` an owner-only file (created empty when missing); its directory owner-only too. */
export function privateFile(path: string): void {
  privateDir(dirname(path));
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
}

/** Prepare a SQLite database path: the file and its -wal/-shm (when present) owner-only, in an owner-only directory. */
export function privateSqlite(path: string): void {
  if (path === ":memory:") return;
  privateFile(path);
  for (const extra of [`${path}-wal`, `${path}-shm`]) if (existsSync(extra)) chmodSync(extra, 0o600);
}

/** Files created from here on are owner-only (for services whose every file is data). */
export function privateUmask(): void {
  process.umask(0o077);
}
