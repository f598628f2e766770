/**
 * Issue #11 part 4, defect 5: a running single-host stack's data is its owner's alone — the data
 * dir, the NATS store dir, the log service's and the cache's SQLite files (with -wal/-shm), the
 * cache's archive dirs, an agent's state and the supervisor's own files are 0700 / 0600.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await testStack({ agents: 1 });
  await stack.waitAgents(1);
}, 60_000);

afterAll(async () => {
  await stack?.destroy();
});

const mode = (p: string) => statSync(p).mode & 0o777;

/** Every entry under `dir`, skipping the subtrees `skip` names (relative to `dir`). */
function walk(dir: string, skip: Set<string>, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = join(rel, e.name);
    if (skip.has(r)) continue;
    out.push(r);
    if (e.isDirectory()) out.push(...walk(dir, skip, r));
  }
  return out;
}

test("data directories are 0700 and data files 0600 once a stack has run a job", async () => {
  const job = await stack.submit({ command: ["sh", "-c", "echo private"] });
  expect((await stack.waitJob(job.id)).state).toBe("succeeded");
  const d = stack.dataDir;
  const agentDir = join(d, [...stack.children.keys()].find((n) => !["nats", "logs", "control", "cache", "registry"].includes(n))!);

  for (const dir of [d, join(d, "nats"), join(d, "nats-users"), join(d, "logs"), join(d, "cache"), join(d, "cache", "objects"), join(d, "cache", "tmp"), join(d, "registry"), join(d, "registry", "blobs", "tmp"), join(d, "registry", "uploads"), agentDir]) expect([dir, mode(dir)]).toEqual([dir, 0o700]);
  const files = ["logs.sqlite", "cache.sqlite", "auth-secret", "nats.conf", "nats-users/control", "nats-users/logs", "nats-users/cache", "nats-users/registry"].map((f) => join(d, f));
  files.push(join(agentDir, "agent.sqlite"));
  for (const db of ["logs.sqlite", "cache.sqlite"].map((f) => join(d, f)).concat(join(agentDir, "agent.sqlite"))) {
    expect(existsSync(`${db}-wal`)).toBe(true);
    files.push(`${db}-wal`, `${db}-shm`);
  }
  for (const f of files) expect([f, mode(f)]).toEqual([f, 0o600]);

  // Nothing else the supervisor or the services wrote is readable by others (nats-server's and the
  // agent's sandbox internals sit inside the 0700 directories checked above).
  const skip = new Set(["nats", agentDir.slice(d.length + 1)]);
  for (const r of walk(d, skip)) expect([r, mode(join(d, r)) & 0o077]).toEqual([r, 0]);
}, 90_000);
