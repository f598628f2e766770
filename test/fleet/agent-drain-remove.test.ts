/**
 * `nimbus agents drain` and `nimbus agents remove` on a real stack: a drained agent takes no new job,
 * finishes the one it runs, and the CLI's --wait reports it empty; removing an agent revokes its
 * token, deletes its registry entry (it stops heartbeating) and requeues the job whose lease it held,
 * which another agent then runs. Non-operators, unknown and malformed ids are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import type { AgentInfo } from "../../src/agents/registry.ts";
import type { LedgerEntry } from "../../src/auth/ledger.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

const ROOT = resolve(import.meta.dir, "../..");
let s: TestStack;

beforeAll(async () => {
  s = await testStack({ agents: 1, agentEnv: { NIMBUS_AGENT_SLOTS: "1" } });
  await s.waitAgents(1);
}, 60_000);
afterAll(async () => {
  await s?.destroy();
}, 60_000);

const cli = (args: string[]) =>
  Bun.spawn([process.execPath, "run", join(ROOT, "src/bin/nimbus.ts"), ...args], { env: { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken }, stdout: "pipe", stderr: "pipe" });
const agents = async () => (await s.api<{ agents: AgentInfo[] }>("/api/agents")).body.agents;

describe("draining and removing agents", () => {
  test("drain --wait: no new work, the running job finishes, then it is reported empty", async () => {
    const id = s.agentId("agent-1");
    const long = await s.submit({ command: ["sh", "-c", "sleep 3; echo done"] });
    await s.waitJob(long.id, (j) => j.state === "running");
    const waiting = await s.submit({ command: ["sh", "-c", "echo second"] }); // one slot: it waits in the queue
    const p = cli(["agents", "drain", id, "--wait"]);
    expect(await p.exited).toBe(0);
    const out = await new Response(p.stdout).text();
    expect(out).toContain(`agent ${id} is empty (drained, still connected)`);
    expect((await s.waitJob(long.id)).state).toBe("succeeded");
    const a = (await agents()).find((x) => x.id === id)!;
    expect(a).toMatchObject({ draining: true, running: [] });
    await Bun.sleep(3000);
    expect((await s.api(`/api/jobs/${waiting.id}`)).body.job.state).toBe("queued");
  }, 60_000);

  test("drain and remove: operators only; unknown or malformed ids are a 404", async () => {
    const id = s.agentId("agent-1");
    const admin = await s.token({ sub: "boss", role: "org-admin", org: "acme", ttlSeconds: 600 });
    const member = await s.token({ sub: "dev", role: "member", org: "acme", ttlSeconds: 600 });
    const agentTok = s.children.get("agent-1")!.env.NIMBUS_AGENT_TOKEN!;
    for (const verb of ["drain", "remove"]) {
      expect((await s.api(`/api/agents/${id}/${verb}`, { method: "POST", token: admin })).status).toBe(403);
      expect((await s.api(`/api/agents/${id}/${verb}`, { method: "POST", token: member })).status).toBe(403);
      expect((await s.api(`/api/agents/${id}/${verb}`, { method: "POST", token: agentTok })).status).toBe(403);
      expect((await s.api(`/api/agents/${id}/${verb}`, { method: "POST", token: null })).status).toBe(401);
      expect((await s.api(`/api/agents/no-such-agent/${verb}`, { method: "POST" })).status).toBe(404);
      expect((await s.api(`/api/agents/${encodeURIComponent("bad id>*")}/${verb}`, { method: "POST" })).status).toBe(404);
      expect((await s.api(`/api/agents/${"x".repeat(200)}/${verb}`, { method: "POST" })).status).toBe(404);
    }
    expect((await agents()).some((a) => a.id === id)).toBe(true); // nothing above removed it
    const p = cli(["agents", "remove", "no-such-agent"]);
    expect(await p.exited).not.toBe(0);
    expect(await new Response(p.stderr).text()).toContain("not found");
  }, 30_000);

  test("remove: token revoked, registry entry gone for good, its leased job requeued and run elsewhere", async () => {
    await s.startAgent("agent-2");
    const id2 = s.agentId("agent-2");
    await waitFor(async () => (await agents()).some((a) => a.id === id2 && !a.draining), 30_000, "agent-2 up");
    // agent-2 first runs the job left waiting by the drain test, then this one.
    const job = await s.submit({ command: ["sh", "-c", "sleep 4; echo finished"] });
    await s.waitJob(job.id, (j) => j.state === "running" && j.agentId === id2, 30_000);
    const p = cli(["agents", "remove", id2, "--json"]);
    expect(await p.exited).toBe(0);
    const removed = JSON.parse(await new Response(p.stdout).text());
    expect(removed).toMatchObject({ agentId: id2, wasLive: true, requeued: [job.id], failed: [] });
    expect(removed.revokedTokens).toHaveLength(1);
    const tokens = (await s.api<{ tokens: LedgerEntry[] }>("/api/tokens")).body.tokens;
    expect(tokens.find((t) => t.id === removed.revokedTokens[0])!.revoked).not.toBeNull();
    const requeued = (await s.api(`/api/jobs/${job.id}`)).body.job;
    expect(requeued).toMatchObject({ state: "queued", attempt: 2 });
    // It stops heartbeating: the registry entry does not come back.
    await Bun.sleep(6_000);
    expect((await agents()).some((a) => a.id === id2)).toBe(false);
    // Another agent runs the requeued job to its end (agent-1 is drained).
    await s.startAgent("agent-3");
    const done = await s.waitJob(job.id, undefined, 45_000);
    expect(done).toMatchObject({ state: "succeeded", attempt: 2, agentId: s.agentId("agent-3") });
  }, 90_000);
});
