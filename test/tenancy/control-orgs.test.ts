/**
 * Organisations on the control plane, against a real stack (nats-server, control plane, log
 * service, an agent): two orgs, a member and a viewer of each, the operator token `nimbus up`
 * prints, and an agent token. Another org's job is a 404 on every route (read, cancel, events and
 * their follow, the logs relay, latency, GitHub view), an action over the role a 403, and a refused
 * call changes nothing; the operator sees both orgs and filters by org.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { JobRecord } from "../../src/jobs/record.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

let s: TestStack;
const tok: Record<string, string> = {};
let aDone: JobRecord, bDone: JobRecord, aQueued: JobRecord, bQueued: JobRecord, bRunning: JobRecord;

const mint = async (sub: string, role: "member" | "viewer" | "agent", org?: string) => await s.token({ sub, role, org, ttlSeconds: 600 });
const as = (who: string) => ({ token: tok[who]! });
/** A job no agent of this sandbox-only stack serves: it stays queued. */
const stranded = { command: ["true"], labels: ["nimbus", "isolation:vm"] };

async function submitAs(who: string, spec: Record<string, unknown>): Promise<JobRecord> {
  const r = await s.api<{ job: JobRecord }>("/api/jobs", { method: "POST", json: spec, ...as(who) });
  if (r.status !== 201) throw new Error(`submit as ${who}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.job;
}

/** The record and its signal key as the operator sees them: what a refused call must not change. */
async function snapshot(id: string) {
  const job = (await s.api<{ job: JobRecord }>(`/api/jobs/${id}`)).body.job;
  const events = (await s.api<{ events: unknown[] }>(`/api/jobs/${id}/events`)).body.events;
  return { state: job.state, updatedAt: job.updatedAt, events: events.length };
}

beforeAll(async () => {
  s = await testStack({ agents: 1 });
  tok.memberA = await mint("alice", "member", "org-a");
  tok.viewerA = await mint("vera", "viewer", "org-a");
  tok.memberB = await mint("bob", "member", "org-b");
  tok.agent = await mint("agent-1", "agent");
  await s.waitAgents(1);
  aDone = await submitAs("memberA", { command: ["sh", "-c", "echo from-a"] });
  bDone = await submitAs("memberB", { command: ["sh", "-c", "echo from-b-secret-output"] });
  aQueued = await submitAs("memberA", stranded);
  bQueued = await submitAs("memberB", stranded);
  bRunning = await submitAs("memberB", { command: ["sleep", "120"] });
  await s.waitJob(aDone.id);
  await s.waitJob(bDone.id);
  await s.waitJob(bRunning.id, (j) => j.state === "running");
}, 120_000);

afterAll(async () => {
  await s?.destroy();
}, 60_000);

describe("where a job's org comes from", () => {
  test("a member's job is its org's; an operator's names one or is the default org; events carry the org", async () => {
    expect([aDone.org, bDone.org, aQueued.org]).toEqual(["org-a", "org-b", "org-a"]);
    const named = await s.submit({ ...stranded, org: "org-c" });
    expect(named.org).toBe("org-c");
    expect((await s.submit(stranded)).org).toBe("default");
    const events = (await s.api<{ events: { org: string }[] }>(`/api/jobs/${aDone.id}/events`)).body.events;
    expect(events.length).toBeGreaterThan(3);
    expect(new Set(events.map((e) => e.org))).toEqual(new Set(["org-a"]));
    const bad = await s.api("/api/jobs", { method: "POST", json: { ...stranded, org: "Not An Org" } });
    expect([bad.status, bad.body.code]).toEqual([422, "validation_failed"]);
  });
});

describe("a member of org A and org B's jobs", () => {
  test("lists only A's jobs; asking for B's list is 403", async () => {
    const mine = (await s.api<{ jobs: JobRecord[] }>("/api/jobs?limit=10000", as("memberA"))).body.jobs;
    expect(mine.map((j) => j.id).sort()).toEqual([aDone.id, aQueued.id].sort());
    const other = await s.api("/api/jobs?org=org-b", as("memberA"));
    expect([other.status, other.body.code]).toEqual([403, "forbidden"]);
    expect((await s.api("/api/jobs?org=org-a", as("memberA"))).status).toBe(200);
    // Jobs by state in the header's queue view: A's only.
    const q = (await s.api<{ jobs: Record<string, number>; pools: Record<string, number>; total: number }>("/api/queue", as("memberA"))).body;
    expect(q.jobs).toEqual({ succeeded: 1, queued: 1 });
    expect(q.total).toBe(1);
    expect((await s.api<{ orgs: string[] }>("/api/orgs", as("memberA"))).body.orgs).toEqual(["org-a"]);
  });

  test("cannot read, cancel, follow the events of, or read the logs (relayed) of B's jobs: 404 as for no job, and nothing changes", async () => {
    const before = { queued: await snapshot(bQueued.id), running: await snapshot(bRunning.id) };
    const routes: [string, string, string?][] = [
      ["read", `/api/jobs/${bDone.id}`],
      ["events", `/api/jobs/${bDone.id}/events`],
      ["events followed", `/api/jobs/${bRunning.id}/events?follow=1`],
      ["logs relay", `/api/jobs/${bDone.id}/logs`],
      ["logs search relay", `/api/jobs/${bDone.id}/logs/search?q=secret`],
      ["latency", `/api/jobs/${bDone.id}/latency`],
      ["github view", `/api/github/jobs/${bDone.id}`],
      ["cancel queued", `/api/jobs/${bQueued.id}/cancel`, "POST"],
      ["cancel running", `/api/jobs/${bRunning.id}/cancel`, "POST"],
    ];
    for (const [name, path, method] of routes) {
      const r = await s.api(path, { method: method ?? "GET", ...as("memberA") });
      const none = await s.api(path.replace(/j-[A-Za-z0-9-]+|k-[0-9a-f]+/, "j-doesnotexist1"), { method: method ?? "GET", ...as("memberA") });
      expect({ name, status: r.status, code: r.body.code }).toEqual({ name, status: 404, code: "not_found" });
      expect(JSON.stringify(r.body)).not.toContain("from-b-secret-output");
      expect({ name, status: none.status }).toEqual({ name, status: 404 }); // indistinguishable from no job at all
    }
    expect(await snapshot(bQueued.id)).toEqual(before.queued);
    expect(await snapshot(bRunning.id)).toEqual(before.running);
    expect((await s.waitJob(bRunning.id, () => true)).state).toBe("running");
  });

  test("the agents list names only the running jobs of the caller's org", async () => {
    type Agents = { agents: { running: string[] }[] };
    // The registry learns an agent's running jobs from its heartbeat.
    await waitFor(async () => (await s.api<Agents>("/api/agents")).body.agents.some((a) => a.running.includes(bRunning.id)), 15_000, "the agent's heartbeat to name B's job");
    const forA = (await s.api<Agents>("/api/agents", as("memberA"))).body.agents;
    const forOp = (await s.api<Agents>("/api/agents")).body.agents;
    expect(forOp.flatMap((a) => a.running)).toContain(bRunning.id);
    expect(forA.length).toBe(forOp.length);
    expect(forA.flatMap((a) => a.running)).not.toContain(bRunning.id);
    expect(forA.flatMap((a) => a.running)).toEqual([]);
  });

  test("submitting into B is 403 and creates nothing", async () => {
    const count = (await s.api("/api/jobs?limit=10000")).body.jobs.length;
    const r = await s.api("/api/jobs", { method: "POST", json: { ...stranded, org: "org-b" }, ...as("memberA") });
    expect([r.status, r.body.code]).toEqual([403, "forbidden"]);
    expect((await s.api("/api/jobs?limit=10000")).body.jobs.length).toBe(count);
  });

  test("the same subject and idempotency key in two orgs are two jobs; neither sees the other's", async () => {
    tok.memberA2 = await mint("ci", "member", "org-a");
    tok.memberB2 = await mint("ci", "member", "org-b");
    const headers = { "idempotency-key": "release-1" };
    const a = await s.api<{ job: JobRecord }>("/api/jobs", { method: "POST", json: stranded, headers, ...as("memberA2") });
    const b = await s.api<{ job: JobRecord }>("/api/jobs", { method: "POST", json: stranded, headers, ...as("memberB2") });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.job.id).not.toBe(a.body.job.id);
    expect(b.body.job.org).toBe("org-b");
  });
});

describe("roles", () => {
  test("a viewer reads its org but cannot submit or cancel (403); nothing is created or changed", async () => {
    expect((await s.api(`/api/jobs/${aDone.id}`, as("viewerA"))).status).toBe(200);
    const count = (await s.api("/api/jobs?limit=10000")).body.jobs.length;
    const before = await snapshot(aQueued.id);
    const submit = await s.api("/api/jobs", { method: "POST", json: stranded, ...as("viewerA") });
    const cancel = await s.api(`/api/jobs/${aQueued.id}/cancel`, { method: "POST", ...as("viewerA") });
    expect([submit.status, submit.body.code, cancel.status, cancel.body.code]).toEqual([403, "forbidden", 403, "forbidden"]);
    expect((await s.api("/api/jobs?limit=10000")).body.jobs.length).toBe(count);
    expect(await snapshot(aQueued.id)).toEqual(before);
    // Another org's job stays a 404 for a viewer too (the org is checked before the role).
    expect((await s.api(`/api/jobs/${bQueued.id}/cancel`, { method: "POST", ...as("viewerA") })).status).toBe(404);
  });

  test("an agent token is refused on every API route", async () => {
    for (const path of ["/api/jobs", `/api/jobs/${aDone.id}`, "/api/agents", "/api/queue", "/api/orgs", "/api/whoami", "/api/labels/explain?labels=nimbus"]) {
      const r = await s.api(path, as("agent"));
      expect({ path, status: r.status }).toEqual({ path, status: 403 });
    }
  });

  test("platform-wide views are the operator's: GitHub status is 403 for members", async () => {
    expect((await s.api("/api/github/status", as("memberA"))).status).toBe(403);
    expect((await s.api("/api/github/status")).status).toBe(200);
  });

  test("whoami names the caller", async () => {
    expect((await s.api("/api/whoami", as("viewerA"))).body).toMatchObject({ sub: "vera", role: "viewer", org: "org-a" });
    expect((await s.api("/api/whoami")).body).toMatchObject({ role: "operator", org: null });
  });
});

describe("the operator", () => {
  test("sees both orgs, filters by org, reads and cancels in either", async () => {
    const all = (await s.api<{ jobs: JobRecord[] }>("/api/jobs?limit=10000")).body.jobs.map((j) => j.id);
    expect(all).toEqual(expect.arrayContaining([aDone.id, bDone.id, aQueued.id, bQueued.id]));
    const onlyB = (await s.api<{ jobs: JobRecord[] }>("/api/jobs?limit=10000&org=org-b")).body.jobs;
    expect(onlyB.length).toBeGreaterThan(0);
    expect(new Set(onlyB.map((j) => j.org))).toEqual(new Set(["org-b"]));
    expect(onlyB.map((j) => j.id)).toEqual(expect.arrayContaining([bDone.id, bQueued.id, bRunning.id]));
    expect((await s.api("/api/jobs?org=Bad_Org")).status).toBe(422);
    expect((await s.api<{ orgs: string[] }>("/api/orgs")).body.orgs).toEqual(expect.arrayContaining(["org-a", "org-b", "default"]));
    const qB = (await s.api<{ jobs: Record<string, number>; org: string }>("/api/queue?org=org-b")).body;
    expect(qB.org).toBe("org-b");
    expect(qB.jobs.running).toBe(1);
    expect((await s.api(`/api/jobs/${bDone.id}/logs`)).body.lines.map((l: { text: string }) => l.text)).toContain("from-b-secret-output");
    expect((await s.api(`/api/jobs/${bRunning.id}/cancel`, { method: "POST" })).status).toBe(202);
    expect((await s.waitJob(bRunning.id)).state).toBe("cancelled");
  });

  test("member B cancels its own job", async () => {
    const r = await s.api<{ job: JobRecord }>(`/api/jobs/${bQueued.id}/cancel`, { method: "POST", ...as("memberB") });
    expect([r.status, r.body.job.state]).toEqual([200, "cancelled"]);
  });
});
