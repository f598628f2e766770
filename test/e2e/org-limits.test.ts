/**
 * Per-org limits and the audit trail on a whole stack (real nats-server, control plane, two sandbox
 * agents): the running limit holds across agents (jobs over it wait in the queue, then run), an
 * over-window submission is a 429 with Retry-After that creates nothing, and limit changes and
 * cancels are audit records that `nimbus audit` shows and the export filters by org.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { EVENTS_STREAM, QUEUE_STREAM } from "../../src/nats/topology.ts";
import type { AuditRecord } from "../../src/auth/audit.ts";
import type { JobRecord } from "../../src/jobs/record.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
let s: TestStack;
let nc: NatsConnection;

beforeAll(async () => {
  s = await testStack({ agents: 2, agentEnv: { NIMBUS_AGENT_SLOTS: "2" } });
  await s.waitAgents(2);
  nc = await connectNats({ url: s.natsUrl, ...s.natsAuth, name: "org-limits-test" });
}, 60_000);
afterAll(async () => {
  await nc?.close();
  await s?.destroy();
});

const nimbus = (args: string[], token = s.adminToken) => {
  const p = Bun.spawnSync([BIN, ...args], { env: { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: token }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};
const token = (role: "org-admin" | "member", org: string) => s.token({ sub: `${role}-${org}`, role, org, ttlSeconds: 600 });

async function streamCounts(): Promise<{ queue: number; events: number }> {
  const jsm = await jetstreamManager(nc);
  return { queue: (await jsm.streams.info(QUEUE_STREAM)).state.messages, events: (await jsm.streams.info(EVENTS_STREAM)).state.messages };
}

test("two agents with four free slots run an org limited to 1 job one at a time; the rest wait in the queue", async () => {
  const put = await s.api("/api/orgs/default/limits", { method: "PUT", json: { running: 1 } });
  expect(put).toMatchObject({ status: 200, body: { org: "default", override: { running: 1 }, limits: { running: 1 } } });
  await Bun.sleep(300); // the agents' mirrors see the override
  const jobs = await Promise.all(Array.from({ length: 4 }, () => s.submit({ command: ["sleep", "0.7"] })));
  const done = await Promise.all(jobs.map((j) => s.waitJob(j.id, undefined, 60_000)));
  expect(done.map((j) => j.state)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
  const spans = done.map((j) => [j.times.leased!, j.times.succeeded!] as const).sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]); // never two at once
  expect(new Set(done.map((j) => j.agentId)).size).toBeGreaterThanOrEqual(1);
  await s.api("/api/orgs/default/limits", { method: "PUT", json: { running: null } });
}, 90_000);

test("an over-window submission is a 429 with Retry-After and creates no record, queue message or event", async () => {
  const put = await s.api("/api/orgs/default/limits", { method: "PUT", json: { submissions: 2, windowMs: 3_600_000 } });
  expect(put.status).toBe(200);
  await waitFor(async () => (await s.api("/api/limits")).body.orgs?.default?.limits?.submissions === 2, 5000, "the control plane sees the new window");
  await s.submit({ command: ["true"] });
  await s.submit({ command: ["true"] });
  await Bun.sleep(500); // the two jobs' events settle
  const before = { jobs: (await s.api<{ jobs: JobRecord[] }>("/api/jobs?limit=10000")).body.jobs.length, ...(await streamCounts()) };
  const res = await fetch(`${s.controlUrl}/api/jobs`, { method: "POST", headers: { authorization: `Bearer ${s.adminToken}`, "content-type": "application/json" }, body: JSON.stringify({ command: ["true"], idempotencyKey: "over-window" }) });
  expect(res.status).toBe(429);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect(await res.json()).toMatchObject({ code: "rate_limited", details: { limit: 2 } });
  await Bun.sleep(300);
  const after = { jobs: (await s.api<{ jobs: JobRecord[] }>("/api/jobs?limit=10000")).body.jobs.length, ...(await streamCounts()) };
  expect(after).toEqual(before);
  await s.api("/api/orgs/default/limits", { method: "PUT", json: { submissions: null, windowMs: null } });
}, 60_000);

test("limits through the CLI; who may read and change them", async () => {
  const set = nimbus(["limits", "set", "acme", "--running", "3", "--window", "30s", "--registry-quota", "10G", "--json"]);
  expect(set.code).toBe(0);
  expect(JSON.parse(set.out)).toMatchObject({ org: "acme", override: { running: 3, windowMs: 30_000, registryBytes: 10 * 1024 ** 3 } });
  expect(nimbus(["limits", "set", "globex", "--submissions", "50"]).code).toBe(0);
  const show = nimbus(["limits", "show", "acme"]);
  expect(show.out).toContain("3*");
  const admin = await token("org-admin", "acme");
  expect(JSON.parse(nimbus(["limits", "show", "acme", "--json"], admin).out)).toMatchObject({ limits: { running: 3 } });
  expect((await s.api("/api/orgs/globex/limits", { token: admin })).status).toBe(404); // another org's limits are not revealed
  expect((await s.api("/api/orgs/acme/limits", { method: "PUT", json: { running: 100 }, token: admin })).status).toBe(403);
  expect((await s.api("/api/orgs/acme/limits", { token: await token("member", "acme") })).status).toBe(403);
  expect((await s.api("/api/orgs/acme/limits", { method: "PUT", json: { runing: 1 } })).status).toBe(422);
}, 60_000);

test("limit changes and cancels appear in `nimbus audit`; the export is filtered by org", async () => {
  const job = await s.submit({ command: ["sleep", "30"] });
  expect((await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" })).status).toBeLessThan(300);
  const lines = nimbus(["audit", "--since", "1h", "--json"]);
  expect(lines.code).toBe(0);
  const all = lines.out.trim().split("\n").map((l) => JSON.parse(l) as AuditRecord);
  expect(all.find((r) => r.action === "job.cancel" && r.target === job.id)).toMatchObject({ org: "default", outcome: "ok", actor: { role: "operator" }, remote: expect.any(String) });
  const acmeChange = all.find((r) => r.action === "limits.set" && r.org === "acme");
  expect(acmeChange).toMatchObject({ outcome: "ok", actor: { sub: "admin", role: "operator", org: null, tokenId: expect.any(String) }, detail: { before: {}, after: { running: 3 } } });
  expect(all.some((r) => r.action === "limits.set" && r.org === "globex")).toBe(true);
  const table = nimbus(["audit", "--org", "acme"]);
  expect(table.out).toContain("limits.set");
  expect(table.out).not.toContain("globex");

  const exportOf = async (q: string, tok = s.adminToken) => {
    const res = await fetch(`${s.controlUrl}/api/audit${q}`, { headers: { authorization: `Bearer ${tok}` } });
    return { status: res.status, type: res.headers.get("content-type"), records: res.ok ? (await res.text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditRecord) : [] };
  };
  const acme = await exportOf("?org=acme");
  expect(acme.type).toContain("application/x-ndjson");
  expect(acme.records.length).toBeGreaterThan(0);
  expect(acme.records.every((r) => r.org === "acme")).toBe(true);
  const admin = await token("org-admin", "acme");
  expect((await exportOf("", admin)).records.map((r) => r.org)).toEqual(acme.records.map(() => "acme")); // an org-admin sees its own org only
  expect((await exportOf("?org=globex", admin)).status).toBe(403);
  expect((await exportOf("", await token("member", "acme"))).status).toBe(403);
  expect((await exportOf("?since=2999-01-01T00:00:00Z")).records).toEqual([]);
  expect((await exportOf("?since=yesterday")).status).toBe(422);
}, 60_000);
