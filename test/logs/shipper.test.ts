/**
 * The agent's log shipper against a real nats-server, the real control-plane handout (for log
 * credentials) and the real log service, behind a pass-through HTTP relay that only watches the
 * requests: several batches are in flight at once, never two of one attempt; every attempt's lines
 * arrive whole and in order with their end; `drained` answers for each attempt; attempts with no or
 * a refused credential are dropped without holding up the others.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { recordedToken } from "../support/tokens.ts";
import { freePort } from "../support/net.ts";
import { createLogger } from "../../src/core/log.ts";
import { LOG_CREDENTIAL_HEADER } from "../../src/auth/log-credential.ts";
import { AgentStore } from "../../agent/store.ts";
import { LogShipper } from "../../agent/logs/shipper.ts";
import { startLogsBed, type LogsBed } from "./bed.ts";

const AUTH = "p".repeat(40);
let bed: LogsBed;
let logs: LogsBed["logs"];
let relay: ReturnType<typeof Bun.serve>;
let dir: string;
let agentToken: string;
let otherAgentToken: string;
let reader: string;

/** What the relay saw: requests in flight now, the most at once overall and per attempt, and the order each attempt's batches were sent in. */
const seen = { now: 0, max: 0, perAttempt: new Map<string, number>(), maxPerAttempt: 0, firstLines: new Map<string, number[]>() };

beforeAll(async () => {
  bed = await startLogsBed(AUTH, "shipper");
  ({ logs, dir } = bed);
  agentToken = await recordedToken(bed.nats.url, AUTH, { sub: "agent-s", role: "agent", ttlSeconds: 600 });
  otherAgentToken = await recordedToken(bed.nats.url, AUTH, { sub: "agent-o", role: "agent", ttlSeconds: 600 });
  reader = await recordedToken(bed.nats.url, AUTH, { sub: "ops", role: "operator", ttlSeconds: 600 });
  // Forwards every request unchanged to the log service, holding each for 30 ms so overlaps show.
  relay = Bun.serve({
    port: 0,
    async fetch(req) {
      const body = await req.text();
      const b = JSON.parse(body) as { jobId: string; attempt: number; lines: { n: number }[] };
      const key = `${b.jobId}#${b.attempt}`;
      seen.now++;
      seen.max = Math.max(seen.max, seen.now);
      const mine = (seen.perAttempt.get(key) ?? 0) + 1;
      seen.perAttempt.set(key, mine);
      seen.maxPerAttempt = Math.max(seen.maxPerAttempt, mine);
      seen.firstLines.set(key, [...(seen.firstLines.get(key) ?? []), b.lines[0]?.n ?? -1]);
      try {
        await Bun.sleep(30);
        const res = await fetch(logs.url + new URL(req.url).pathname, { method: "POST", headers: req.headers, body });
        return new Response(await res.text(), { status: res.status, headers: { "content-type": "application/json" } });
      } finally {
        seen.now--;
        seen.perAttempt.set(key, seen.perAttempt.get(key)! - 1);
      }
    },
  });
}, 30_000);

afterAll(async () => {
  relay?.stop(true);
  await bed?.stop();
});

/** A job leased by `agentId`, and the log credential the handout gave that agent for it. */
async function leasedJob(agentId: string, token: string): Promise<{ id: string; credential: string }> {
  const { job, credential } = await bed.leasedJob(agentId, token);
  return { id: job.value.id, credential };
}

function spool(local: AgentStore, id: string, lines: number): void {
  local.spoolLines(Array.from({ length: lines }, (_, n) => ({ jobId: id, attempt: 1, n, ts: n + 1, stream: "out" as const, text: `${id} line ${n}` })));
  local.spoolEnd({ jobId: id, attempt: 1, lines, exitCode: 0 });
}

async function shipped(id: string): Promise<{ texts: string[]; ended: boolean }> {
  const res = await fetch(`${logs.url}/v1/jobs/${id}/logs?limit=10000`, { headers: { authorization: `Bearer ${reader}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { lines: { text: string }[]; ended: boolean };
  return { texts: body.lines.map((l) => l.text), ended: body.ended };
}

test("batches of different attempts go at once, one attempt's one at a time and in order; each attempt drains whole with its end", async () => {
  const local = new AgentStore(join(dir, "agent-1"));
  const jobs = [];
  for (let i = 0; i < 12; i++) jobs.push(await leasedJob("agent-s", agentToken));
  const sizes = jobs.map((_, i) => (i === 0 ? 2500 : i % 3)); // one attempt of three batches, the others a line or two or only their end
  jobs.forEach((j, i) => {
    local.putLogCredential(j.id, 1, j.credential);
    spool(local, j.id, sizes[i]!);
  });
  const shipper = new LogShipper({ store: local, logsUrl: `http://127.0.0.1:${relay.port}`, token: agentToken, log: createLogger("test"), batchLines: 1000, concurrency: 4 });
  shipper.start();
  try {
    const drained = await Promise.all(jobs.map((j) => shipper.drained(j.id, 1, 20_000)));
    expect(drained).toEqual(jobs.map(() => true));
  } finally {
    await shipper.stop();
  }
  expect(seen.maxPerAttempt).toBe(1);
  expect(seen.max).toBeGreaterThan(1);
  expect(seen.max).toBeLessThanOrEqual(4);
  expect(seen.firstLines.get(`${jobs[0]!.id}#1`)).toEqual([0, 1000, 2000]);
  for (const [i, j] of jobs.entries()) {
    const got = await shipped(j.id);
    expect(got.texts).toEqual(Array.from({ length: sizes[i]! }, (_, n) => `${j.id} line ${n}`));
    expect(got.ended).toBe(true);
    expect(local.pending(j.id, 1)).toBe(0);
    expect(local.logCredential(j.id, 1)).toBeNull(); // the credential goes with the attempt's last batch
  }
  local.close();
});

test("an attempt with no credential, or one the log service refuses, is dropped and holds up no other attempt", async () => {
  const local = new AgentStore(join(dir, "agent-2"));
  const good = await leasedJob("agent-s", agentToken);
  const none = await leasedJob("agent-s", agentToken);
  const foreign = await leasedJob("agent-o", otherAgentToken); // its credential names agent-o, not the shipper's agent
  local.putLogCredential(good.id, 1, good.credential);
  local.putLogCredential(foreign.id, 1, foreign.credential);
  for (const j of [none, foreign, good]) spool(local, j.id, 3);
  const shipper = new LogShipper({ store: local, logsUrl: `http://127.0.0.1:${relay.port}`, token: agentToken, log: createLogger("test"), concurrency: 2 });
  shipper.start();
  try {
    expect(await Promise.all([none, foreign, good].map((j) => shipper.drained(j.id, 1, 20_000)))).toEqual([true, true, true]);
  } finally {
    await shipper.stop();
  }
  expect((await shipped(good.id)).texts).toEqual([0, 1, 2].map((n) => `${good.id} line ${n}`));
  for (const j of [none, foreign]) {
    expect((await shipped(j.id)).texts).toEqual([]);
    expect(local.pending(j.id, 1)).toBe(0);
  }
  // The refusal was the log service's own: the foreign credential is refused for this agent's token.
  const res = await fetch(`${logs.url}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${agentToken}`, [LOG_CREDENTIAL_HEADER]: foreign.credential },
    body: JSON.stringify({ jobId: foreign.id, attempt: 1, lines: [{ n: 0, ts: 1, stream: "out", text: "x" }] }),
  });
  expect(res.status).toBe(403);
  local.close();
});

test("drained gives up after its timeout when the log service cannot be reached, and the lines stay spooled", async () => {
  const local = new AgentStore(join(dir, "agent-3"));
  const j = await leasedJob("agent-s", agentToken);
  local.putLogCredential(j.id, 1, j.credential);
  spool(local, j.id, 2);
  const shipper = new LogShipper({ store: local, logsUrl: `http://127.0.0.1:${await freePort()}`, token: agentToken, log: createLogger("test") });
  shipper.start();
  try {
    expect(await shipper.drained(j.id, 1, 300)).toBe(false);
  } finally {
    await shipper.stop();
  }
  expect(local.pending(j.id, 1)).toBe(3); // two lines and the end
  local.close();
});
