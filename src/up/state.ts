/**
 * The local stack's state file (`<data-dir>/state.json`, mode 0600): endpoints, the admin token
 * and the supervisor's pid, so the CLI in another terminal finds the stack with no flags.
 */
import { existsSync, readFileSync, writeFileSync, renameSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { privateDir } from "../core/private-files.ts";

export interface StackState {
  pid: number;
  startedAt: number;
  dataDir: string;
  controlUrl: string;
  logsUrl: string;
  cacheUrl: string;
  /** Absent in a state file written before the registry existed. */
  registryUrl?: string;
  natsUrl: string;
  natsMonitorUrl: string;
  adminToken: string;
  /** Pid of each service process, by name. */
  services: Record<string, number>;
}

export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  return resolve(env.NIMBUS_DATA_DIR || join(homedir(), ".nimbus"));
}

export const stateFile = (dataDir: string) => join(dataDir, "state.json");

export function readState(dataDir: string): StackState | null {
  const f = stateFile(dataDir);
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as StackState;
  } catch {
    return null;
  }
}

/** Write atomically with owner-only permissions (it holds a token). */
export function writePrivate(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function writeState(state: StackState): void {
  writePrivate(stateFile(state.dataDir), JSON.stringify(state, null, 2) + "\n");
}

/** A secret kept in the data dir, created on first use. */
export function keptSecret(dataDir: string, name: string, bytes = 32): string {
  privateDir(dataDir);
  const f = join(dataDir, name);
  if (existsSync(f)) return readFileSync(f, "utf8").trim();
  const value = randomBytes(bytes).toString("base64url");
  writePrivate(f, value + "\n");
  return value;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
