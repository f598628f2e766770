/**
 * The fenced pipeline under faults, with real processes: agents racing, an agent paused past its
 * lease, an agent killed mid-job, a control-plane restart, an agent restart, a drain.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findInstancePids } from "../../agent/drivers/sandbox/procs.ts";
import type { JobEvent } from "../../src/jobs/events.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

let s: TestStack | undefined;
afterEach(async () => {
  await s?.destroy();
  s = undefined;
}, 30_000);

const events = async (id: string): Promise<JobEvent[]> => (await s!.api(`/api/jobs/${id}/events`)).body.events;
const pidOf = (name: string) => s!.children.get(name)!.proc.pid;
const nameOf = (agentId: string) => agentId.replace(/-[0-9a-f]{6}$/, "");
const agentLog = (name: string) => readFileSync(join(s!.dataDir, "logs", `${name}.log`), "utf8");

describe("fencing under faults", () => {
  test("two agents racing for 30 jobs: each job runs exactly once", async () => {
    s = await testStack({ agents: 2 });
    await s.waitAgents(2);
    const jobs = await Promise.all(Array.from({ length: 30 }, (_, i) => s!.submit({ command: ["sh", "-c", `echo job ${i}`] })));
    const done = await Promise.all(jobs.map((j) => s!.waitJob(j.id)));
    expect(done.every((j) => j.state === "succeeded" && j.attempt === 1)).toBe(true);
    for (const j of jobs) {
      const evs = await events(j.id);
      expect(evs.filter((e) => e.to === "running")).toHaveLength(1);
      expect((await s.logs(j.id)).map((l) => l.text)).toEqual([`job ${jobs.indexOf(j)}`]);
    }
    expect(new Set(done.map((j) => j.agentId)).size).toBe(2); // both took part
  }, 60_000);

  test("an agent paused past its lease: the job moves on; on waking its writes are rejected and it kills its process", async () => {
    s = await testStack({ agents: 1 });
    await s.waitAgents(1);
    const job = await s.submit({ command: ["sleep", "30"] });
    await s.waitJob(job.id, (j) => j.state === "running");
    const oldInstance = `nimbus-${job.id}-1`;
    expect(findInstancePids(oldInstance).size).toBeGreaterThan(0);
    process.kill(pidOf("agent-1"), "SIGSTOP");
    await s.startAgent("agent-2");
    const moved = await s.waitJob(job.id, (j) => j.state === "running" && j.attempt === 2, 20_000);
    expect(moved.agentId).toBe(s.agentId("agent-2"));
    process.kill(pidOf("agent-1"), "SIGCONT");
    await waitFor(() => findInstancePids(oldInstance).size === 0, 10_000, "the paused agent to kill its job");
    await waitFor(() => agentLog("agent-1").includes("lease lost"), 5000, "lease-lost log line");
    const after = (await s.api<{ job: JobRecord }>(`/api/jobs/${job.id}`)).body.job;
    expect(after).toMatchObject({ state: "running", attempt: 2, agentId: s.agentId("agent-2") }); // agent-1 wrote nothing
    expect((await events(job.id)).filter((e) => e.agentId === s!.agentId("agent-1") && e.attempt === 2)).toHaveLength(0);
    await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" });
    expect((await s.waitJob(job.id)).state).toBe("cancelled");
  }, 60_000);

  test("kill -9 of an agent mid-job: re-queued after the TTL, completed by another agent, no second copy", async () => {
    s = await testStack({ agents: 2 });
    await s.waitAgents(2);
    const job = await s.submit({ command: ["sh", "-c", "echo started; sleep 2; echo finished"] });
    const running = await s.waitJob(job.id, (j) => j.state === "running");
    const victim = running.agentId!;
    process.kill(pidOf(nameOf(victim)), "SIGKILL");
    // The sandbox dies with its agent (no orphan keeps running while attempt 2 starts).
    await waitFor(() => findInstancePids(`nimbus-${job.id}-1`).size === 0, 2000, "attempt 1 to die with its agent");
    const done = await s.waitJob(job.id, undefined, 30_000);
    expect(done.state).toBe("succeeded");
    expect(done.attempt).toBe(2);
    expect(done.agentId).not.toBe(victim);
    const evs = await events(job.id);
    expect(evs.map((e) => e.to)).toEqual(["queued", "leased", "booting", "running", "queued", "leased", "booting", "running", "succeeded"]);
    expect(evs[4]!.reason).toContain(`lease expired on agent ${victim}`);
    const attempt2 = (await s.logs(job.id)).filter((l) => l.attempt === 2).map((l) => l.text);
    expect(attempt2).toContain("finished");
  }, 60_000);

  test("a control-plane restart loses no job", async () => {
    s = await testStack({ agents: 1 });
    await s.waitAgents(1);
    const before = await Promise.all(Array.from({ length: 8 }, () => s!.submit({ command: ["sleep", "0.3"] })));
    await s.stopChild("control");
    await Bun.sleep(500); // agents keep working through NATS meanwhile
    await s.restart("control");
    const after = await Promise.all(Array.from({ length: 4 }, () => s!.submit({ command: ["true"] })));
    const all = await Promise.all([...before, ...after].map((j) => s!.waitJob(j.id)));
    expect(all.every((j) => j.state === "succeeded")).toBe(true);
    const listed = (await s.api<{ jobs: JobRecord[] }>("/api/jobs?limit=100")).body.jobs.map((j) => j.id);
    for (const j of [...before, ...after]) expect(listed).toContain(j.id);
  }, 60_000);
});

describe("agent lifecycle", () => {
  test("restart after kill -9: its own lease is released and the job re-driven at once; nothing of the old run remains", async () => {
    s = await testStack({ agents: 1, agentEnv: { NIMBUS_LEASE_TTL_MS: "60000" }, controlEnv: { NIMBUS_LEASE_TTL_MS: "60000" } });
    await s.waitAgents(1);
    const job = await s.submit({ command: ["sh", "-c", "sleep 1; echo ok"] });
    await s.waitJob(job.id, (j) => j.state === "running");
    process.kill(pidOf("agent-1"), "SIGKILL");
    await s.children.get("agent-1")!.proc.exited;
    await s.restart("agent-1");
    // Re-driven by the restart's reconcile (the reason below), not by the 60 s lease running out.
    const done = await s.waitJob(job.id, undefined, 50_000);
    expect(done).toMatchObject({ state: "succeeded", attempt: 2, agentId: s.agentId("agent-1") });
    expect((await events(job.id))[4]!.reason).toContain(`agent ${s.agentId("agent-1")} restarted`);
    expect(findInstancePids(`nimbus-${job.id}-1`).size).toBe(0);
  }, 60_000);

  test("SIGTERM drains: the running job finishes, no new job is taken", async () => {
    s = await testStack({ agents: 1 });
    await s.waitAgents(1);
    const job = await s.submit({ command: ["sh", "-c", "sleep 1.5; echo drained-ok"] });
    await s.waitJob(job.id, (j) => j.state === "running");
    const agent = s.children.get("agent-1")!.proc;
    agent.kill("SIGTERM");
    // Handled once the agent says it is draining (it stops pulling before it says so).
    const draining = async () => (await s!.api<{ agents: { id: string; draining: boolean }[] }>("/api/agents")).body.agents.some((a) => a.id === s!.agentId("agent-1") && a.draining);
    await waitFor(draining, 15_000, "the agent to report draining");
    const late = await s.submit({ command: ["true"] });
    expect(await agent.exited).toBe(0);
    const done = (await s.api<{ job: JobRecord }>(`/api/jobs/${job.id}`)).body.job;
    expect(done.state).toBe("succeeded");
    expect((await s.logs(job.id)).map((l) => l.text)).toEqual(["drained-ok"]);
    expect((await s.api<{ job: JobRecord }>(`/api/jobs/${late.id}`)).body.job.state).toBe("queued");
  }, 60_000);
});
