/**
 * Jobs in QEMU microVMs through the whole pipeline (software emulation here): `nimbus run
 * --isolation vm`, live output, the exit code; and an agent killed with a VM running.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
let s: TestStack;

beforeAll(async () => {
  await ensureVmAssets();
  s = await testStack({ agents: 1, agentEnv: { NIMBUS_AGENT_DRIVERS: "sandbox,qemu", NIMBUS_VM_ACCEL: "tcg", NIMBUS_LEASE_TTL_MS: "60000" } });
  await s.waitAgents(1);
}, 300_000);
afterAll(async () => {
  await s?.destroy();
}, 60_000);

const qemuPids = (jobId: string) =>
  Bun.spawnSync(["pgrep", "-f", `guest=nimbus-${jobId}`]).stdout.toString().trim().split("\n").filter(Boolean);

test("nimbus run --isolation vm runs the command in a microVM, streams it, returns its exit code", async () => {
  const state = { NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken };
  const proc = Bun.spawn([BIN, "run", "--isolation", "vm", "-e", "GREETING=hello", "--", "sh", "-c", 'echo "$GREETING from $(uname -s)"; id -u; echo to-stderr >&2; exit 4'], {
    env: { ...process.env, ...state },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect(out).toBe("hello from Linux\n1000\n");
  expect(err).toContain("to-stderr");
  expect(err).toMatch(/pool x64\.vm\.2c4g/);
  expect(code).toBe(4);
  const jobs = (await s.api<{ jobs: JobRecord[] }>("/api/jobs")).body.jobs;
  expect(jobs[0]).toMatchObject({ state: "failed", exitCode: 4, pool: "x64.vm.2c4g" });
  expect(qemuPids(jobs[0]!.id)).toEqual([]);
}, 120_000);

test("kill -9 of an agent with a running VM, then restart: VM, disks and records are gone, the job re-queued", async () => {
  const job = await s.submit({ command: ["sh", "-c", "echo up; sleep 600"], labels: ["nimbus", "isolation:vm"] });
  await waitFor(async () => (await s.logs(job.id)).some((l) => l.text === "up"), 120_000, "the VM job to start");
  expect(qemuPids(job.id).length).toBe(1);
  process.kill(s.children.get("agent-1")!.proc.pid, "SIGKILL");
  await s.children.get("agent-1")!.proc.exited;
  await s.restart("agent-1");
  await s.waitJob(job.id, (j) => j.attempt === 2, 60_000);
  expect((await s.api(`/api/jobs/${job.id}/events`)).body.events[4].reason).toContain(`agent ${s.agentId("agent-1")} restarted`);
  // Only attempt 2 may exist now: nothing of attempt 1 remains on the machine.
  const attempt1 = `nimbus-${job.id}-1`;
  await waitFor(() => !Bun.spawnSync(["pgrep", "-f", `guest=${attempt1}`]).stdout.toString().trim(), 10_000, "attempt 1's QEMU to be gone");
  const agentDir = join(s.dataDir, "agent-1");
  const leftovers = (dir: string): string[] =>
    existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((p) => p.includes(`${job.id}-1`)) : [];
  expect(leftovers(agentDir)).toEqual([]);
  await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" });
  expect((await s.waitJob(job.id, undefined, 60_000)).state).toBe("cancelled");
}, 240_000);
