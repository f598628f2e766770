/**
 * Issue #11 for the log service, against a real nats-server, the real control-plane handout and the
 * real log service: log batches only from the lease holder of that attempt (part 4, defect 1, "log
 * forgery"), and reads (logs, search, follow) only by principals of the job's organisation.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Lease } from "../../src/jobs/lifecycle/lease.ts";
import { fencedWrite } from "../../src/jobs/lifecycle/transition.ts";
import { LOG_CREDENTIAL_HEADER, mintLogCredential } from "../../src/auth/log-credential.ts";
import { recordedToken } from "../support/tokens.ts";
import type { Role } from "../../src/auth/principal.ts";
import { startLogsBed, type LogsBed } from "./bed.ts";

const AUTH = "l".repeat(40);
let bed: LogsBed;
let logs: LogsBed["logs"];
let t: LogsBed["t"];
let store: LogsBed["store"];
const agentToken: Record<string, string> = {};

beforeAll(async () => {
  bed = await startLogsBed(AUTH, "logs-tenancy");
  ({ logs, t, store } = bed);
  for (const a of ["agent-a", "agent-b"]) agentToken[a] = await recordedToken(bed.nats.url, AUTH, { sub: a, role: "agent", ttlSeconds: 600 });
}, 30_000);

afterAll(async () => {
  await bed?.stop();
});

/** A job of `org` running on `agentId`, and the log credential the handout gave that agent for it. */
async function running(agentId: string, org?: string): Promise<{ id: string; credential: string }> {
  const { job: leased, lease, credential } = await bed.leasedJob(agentId, agentToken[agentId]!, org);
  const booting = await fencedWrite(lease, store, leased, "booting");
  if (booting === "lost") throw new Error("lost");
  if ((await fencedWrite(lease, store, booting, "running")) === "lost") throw new Error("lost");
  return { id: leased.value.id, credential };
}

const batch = (jobId: string, texts: string[], attempt = 1, end = false) => ({
  jobId, attempt, lines: texts.map((text, n) => ({ n, ts: n + 1, stream: "out", text })), ...(end ? { end: { lines: texts.length, exitCode: 0 } } : {}),
});

async function post(body: unknown, token: string | null, credential?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (credential) headers[LOG_CREDENTIAL_HEADER] = credential;
  const res = await fetch(`${logs.url}/v1/logs`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function get(path: string, token: string) {
  const res = await fetch(logs.url + path, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") ?? "" };
}

const reader = async (role: Role, org: string | null) => await recordedToken(bed.nats.url, AUTH, { sub: `${role}-${org}`, role, org, ttlSeconds: 600 });
const texts = async (id: string) => JSON.parse((await get(`/v1/jobs/${id}/logs`, await reader("operator", null))).text).lines.map((l: { text: string }) => l.text);

describe("log forgery (issue #11 part 4.1)", () => {
  test("a forged batch with another agent's token for a running job that has not printed yet is refused and never displaces the real lines", async () => {
    const job = await running("agent-a");
    // The attack from the issue: agent B's (valid) token, a batch for A's job, line numbers 0 and 1.
    const forged = await post(batch(job.id, ["forged 0", "forged 1"]), agentToken["agent-b"]!);
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe("forbidden");
    expect(await texts(job.id)).toEqual([]); // nothing stored
    // B holding a credential of its own job does not help it write A's.
    const own = await running("agent-b");
    expect((await post(batch(job.id, ["forged"]), agentToken["agent-b"]!, own.credential)).status).toBe(403);
    // Nor does presenting A's credential (copied) under B's token.
    expect((await post(batch(job.id, ["forged"]), agentToken["agent-b"]!, job.credential)).status).toBe(403);
    // An operator does not ingest either: only the lease holder writes a job's lines.
    expect((await post(batch(job.id, ["forged"]), await reader("operator", null), job.credential)).status).toBe(403);
    expect(await texts(job.id)).toEqual([]);
    // The real lines, from the lease holder with its credential, take their line numbers.
    const real = await post(batch(job.id, ["real 0", "real 1"]), agentToken["agent-a"]!, job.credential);
    expect(real).toEqual({ status: 200, body: { ok: true, inserted: 2 } });
    expect(await texts(job.id)).toEqual(["real 0", "real 1"]);
  });

  test("an attempt that never existed cannot be invented, and a credential covers its own job only", async () => {
    const job = await running("agent-a");
    const other = await running("agent-a");
    expect((await post(batch(job.id, ["invented"], 2), agentToken["agent-a"]!, job.credential)).status).toBe(403);
    expect((await post(batch(other.id, ["wrong job"]), agentToken["agent-a"]!, job.credential)).status).toBe(403);
    expect(await texts(job.id)).toEqual([]);
    expect(await texts(other.id)).toEqual([]);
  });

  test("no credential, a bad one, an expired one or one signed with another secret: 403, nothing stored", async () => {
    const job = await running("agent-a");
    const a = agentToken["agent-a"]!;
    const expired = await mintLogCredential(AUTH, { jobId: job.id, attempt: 1, agentId: "agent-a", org: "default", ttlSeconds: -10 });
    const foreign = await mintLogCredential("x".repeat(40), { jobId: job.id, attempt: 1, agentId: "agent-a", org: "default", ttlSeconds: 600 });
    for (const credential of [undefined, "garbage", expired, foreign, a /* an agent token is not a credential */]) {
      const r = await post(batch(job.id, ["x"]), a, credential);
      expect({ status: r.status, code: r.body.code }).toEqual({ status: 403, code: "forbidden" });
    }
    expect((await post(batch(job.id, ["x"]), null, job.credential)).status).toBe(401);
    expect(await texts(job.id)).toEqual([]);
  });
});

describe("reads are org-scoped", () => {
  test("logs, search and follow: the job's org and operators read; another org gets the 404 of a job that does not exist", async () => {
    const job = await running("agent-a", "acme");
    await post(batch(job.id, ["hello acme", "bye"], 1, true), agentToken["agent-a"]!, job.credential);
    const paths = [`/v1/jobs/${job.id}/logs`, `/v1/jobs/${job.id}/logs/search?q=acme`, `/v1/jobs/${job.id}/logs/follow`];
    for (const [role, org] of [["member", "acme"], ["viewer", "acme"], ["org-admin", "acme"], ["operator", null]] as [Role, string | null][]) {
      const token = await reader(role, org);
      for (const path of paths) {
        const r = await get(path, token);
        expect({ role, path, status: r.status }).toEqual({ role, path, status: 200 });
        expect(r.text).toContain("hello acme");
      }
    }
    const missing = await get(`/v1/jobs/j-doesnotexist/logs`, await reader("member", "globex"));
    for (const [role, org] of [["member", "globex"], ["viewer", "globex"], ["org-admin", "globex"]] as [Role, string][]) {
      const token = await reader(role, org);
      for (const path of paths) {
        const r = await get(path, token);
        expect({ role, path, status: r.status }).toEqual({ role, path, status: 404 });
        expect(r.text).not.toContain("hello");
        expect(JSON.parse(r.text).code).toBe(JSON.parse(missing.text).code);
      }
    }
    for (const path of paths) expect((await get(path, agentToken["agent-a"]!)).status).toBe(403); // agents do not read logs
  });

  test("a job of another org that has not printed yet is a 404 too (its org comes from the record)", async () => {
    const job = await running("agent-a", "acme");
    expect((await get(`/v1/jobs/${job.id}/logs`, await reader("member", "acme"))).status).toBe(200);
    expect((await get(`/v1/jobs/${job.id}/logs`, await reader("member", "globex"))).status).toBe(404);
    expect((await get(`/v1/jobs/${job.id}/logs/follow`, await reader("viewer", "globex"))).status).toBe(404);
  });

  test("stored lines carry the job's org: still scoped once the job's record is gone", async () => {
    const job = await running("agent-a", "acme");
    await post(batch(job.id, ["kept"]), agentToken["agent-a"]!, job.credential);
    await t.jobs.purge(job.id); // as a bucket's history limit or an operator would
    expect(await store.get(job.id)).toBeNull();
    expect((await get(`/v1/jobs/${job.id}/logs`, await reader("viewer", "acme"))).text).toContain("kept");
    expect((await get(`/v1/jobs/${job.id}/logs`, await reader("viewer", "globex"))).status).toBe(404);
    expect((await get(`/v1/jobs/${job.id}/logs`, await reader("viewer", "default"))).status).toBe(404);
  });
});
