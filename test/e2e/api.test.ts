/** The control plane and log service over HTTP, against a real stack (nats-server, services, one agent). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../../src/nats/connect.ts";
import { QUEUE_STREAM } from "../../src/nats/topology.ts";
import { LOG_CREDENTIAL_HEADER, mintLogCredential } from "../../src/auth/log-credential.ts";
import { findInstancePids } from "../../agent/drivers/sandbox/procs.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { SignJWT } from "jose";

let s: TestStack;
beforeAll(async () => {
  s = await testStack({ agents: 1 });
  await s.waitAgents(1);
}, 30_000);
afterAll(async () => {
  await s?.destroy();
}, 30_000);

async function queueMessagesEver(): Promise<number> {
  const nc = await connectNats({ url: s.natsUrl, ...s.natsAuth, name: "test" });
  const info = await (await jetstreamManager(nc)).streams.info(QUEUE_STREAM);
  await nc.close();
  return info.state.last_seq;
}

describe("submission and results", () => {
  test("a job runs sandboxed, its output is logged, its exit code recorded", async () => {
    const job = await s.submit({ command: ["sh", "-c", "echo out; echo err >&2; id -u; touch /etc/x 2>/dev/null || echo ro; exit 3"] });
    expect(job.state).toBe("queued");
    const done = await s.waitJob(job.id);
    expect(done).toMatchObject({ state: "failed", exitCode: 3, attempt: 1 });
    const lines = await s.logs(job.id);
    expect(lines.map((l) => `${l.stream}:${l.text}`)).toEqual(["out:out", "err:err", "out:65534", "out:ro"]);
  });

  test("secrets are passed to the job, masked in its logs and never returned by the API", async () => {
    const job = await s.submit({ command: ["sh", "-c", 'echo "token is $API_TOKEN"'], secrets: { API_TOKEN: "hunter2-very-secret" } });
    expect(job.secrets).toEqual(["API_TOKEN"] as never);
    await s.waitJob(job.id);
    expect((await s.logs(job.id)).map((l) => l.text)).toEqual(["token is ***"]);
    const listed = await s.api(`/api/jobs/${job.id}`);
    expect(JSON.stringify(listed.body)).not.toContain("hunter2");
  });

  test("a sandbox job gets its secret in its environment from the claim-time handout (digest printed)", async () => {
    const value = `digest-me-${Date.now()}`;
    const job = await s.submit({ command: ["sh", "-c", 'printf %s "$API_TOKEN" | sha256sum | cut -c1-64'], secrets: { API_TOKEN: value } });
    const done = await s.waitJob(job.id);
    expect(done.state).toBe("succeeded");
    const { createHash } = await import("node:crypto");
    expect((await s.logs(job.id)).map((l) => l.text)).toEqual([createHash("sha256").update(value).digest("hex")]);
    expect(JSON.stringify(done)).not.toContain(value);
  });

  test("a secret's value typed into the command is refused with 422 naming the secret, not its value", async () => {
    const r = await s.api("/api/jobs", { method: "POST", json: { command: ["echo", "hunter2-typed-in"], secrets: { API_TOKEN: "hunter2-typed-in" } } });
    expect(r.status).toBe(422);
    expect(r.body.message).toContain("API_TOKEN");
    expect(r.body.message).toContain("--secret API_TOKEN");
    expect(JSON.stringify(r.body)).not.toContain("hunter2-typed-in");
  });

  test("the same Idempotency-Key twice gives one job", async () => {
    const spec = { command: ["true"] };
    const a = await s.api("/api/jobs", { method: "POST", json: spec, headers: { "idempotency-key": "release-7" } });
    const b = await s.api("/api/jobs", { method: "POST", json: spec, headers: { "idempotency-key": "release-7" } });
    expect([a.status, b.status]).toEqual([201, 200]);
    expect(b.body.job.id).toBe(a.body.job.id);
    const c = await s.api("/api/jobs", { method: "POST", json: { command: ["false"] }, headers: { "idempotency-key": "release-7" } });
    expect(c.status).toBe(409);
  });

  test("a job past its timeout is killed, with its whole process tree, and marked timed_out", async () => {
    const job = await s.submit({ command: ["sh", "-c", "sleep 60 & sleep 60 & echo started; wait"], timeoutSeconds: 1 });
    const done = await s.waitJob(job.id);
    expect(done.state).toBe("timed_out");
    expect(done.exitCode).toBe(124);
    expect(done.reason).toContain("timeout of 1s");
    expect(findInstancePids(`nimbus-${job.id}-1`).size).toBe(0);
    const lines = await s.logs(job.id);
    expect(lines.at(-1)).toMatchObject({ stream: "sys", text: "nimbus: exceeded its timeout of 1s" });
  });

  test("cancel: a running job is stopped by its agent and marked cancelled", async () => {
    const job = await s.submit({ command: ["sleep", "60"] });
    await s.waitJob(job.id, (j) => j.state === "running");
    const r = await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" });
    expect(r.status).toBe(202);
    const done = await s.waitJob(job.id);
    expect(done.state).toBe("cancelled");
    expect(findInstancePids(`nimbus-${job.id}-1`).size).toBe(0);
    expect((await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200); // idempotent
  });

  test("events and the latency breakdown", async () => {
    const job = await s.submit({ command: ["true"] });
    const done = await s.waitJob(job.id);
    expect(Object.keys(done.times)).toEqual(["queued", "leased", "booting", "running", "succeeded"]);
    const ev = await s.api(`/api/jobs/${job.id}/events`);
    expect(ev.body.events.map((e: { to: string }) => e.to)).toEqual(["queued", "leased", "booting", "running", "succeeded"]);
  });
});

describe("bad input: a clear error and nothing enqueued", () => {
  test("each bad request gets its status and code", async () => {
    const before = await queueMessagesEver();
    const jobsBefore = (await s.api("/api/jobs?limit=10000")).body.jobs.length;
    const expired = await new SignJWT({ role: "operator" }).setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus").setSubject("admin").setJti("t-expired")
      .setIssuedAt(1).setExpirationTime(2).sign(new TextEncoder().encode(s.authSecret));
    const agentToken = await s.token({ sub: "agent-1", role: "agent", ttlSeconds: 60 });
    const cases: [string, Promise<{ status: number; body: any }>, number, string][] = [
      ["invalid spec", s.api("/api/jobs", { method: "POST", json: { command: "echo" } }), 422, "validation_failed"],
      ["bad label", s.api("/api/jobs", { method: "POST", json: { command: ["x"], labels: ["nimbus", "nimbus-99vcpu-1gb"] } }), 422, "validation_failed"],
      ["malformed JSON", s.api("/api/jobs", { method: "POST", body: "{nope", headers: { "content-type": "application/json" } }), 400, "invalid_json"],
      ["empty body", s.api("/api/jobs", { method: "POST", body: "", headers: { "content-type": "application/json" } }), 400, "invalid_json"],
      ["oversized", s.api("/api/jobs", { method: "POST", json: { command: ["x".repeat(2_000_000)] } }), 413, "payload_too_large"],
      ["no token", s.api("/api/jobs", { method: "POST", json: { command: ["true"] }, token: null }), 401, "unauthorized"],
      ["wrong token", s.api("/api/jobs", { method: "POST", json: { command: ["true"] }, token: "abc.def.ghi" }), 401, "unauthorized"],
      ["expired token", s.api("/api/jobs", { method: "POST", json: { command: ["true"] }, token: expired }), 401, "unauthorized"],
      ["agent token on the jobs API", s.api("/api/jobs", { method: "POST", json: { command: ["true"] }, token: agentToken }), 403, "forbidden"],
      ["unknown job", s.api("/api/jobs/j-doesnotexist"), 404, "not_found"],
      ["unknown job cancel", s.api("/api/jobs/j-doesnotexist/cancel", { method: "POST" }), 404, "not_found"],
      ["not a job id", s.api("/api/jobs/..%2F..%2Fetc"), 404, "not_found"],
      ["bad state filter", s.api("/api/jobs?state=bogus"), 422, "validation_failed"],
    ];
    for (const [name, p, status, code] of cases) {
      const r = await p;
      expect({ name, status: r.status, code: r.body.code }).toEqual({ name, status, code });
      expect(typeof r.body.message).toBe("string");
    }
    const invalid = await s.api("/api/jobs", { method: "POST", json: { command: ["x"], timeoutSeconds: -1 } });
    expect(invalid.body.message).toContain("timeoutSeconds");
    expect(await queueMessagesEver()).toBe(before);
    expect((await s.api("/api/jobs?limit=10000")).body.jobs.length).toBe(jobsBefore);
  });
});

describe("log service", () => {
  test("batches are idempotent and need an agent token with the attempt's log credential", async () => {
    const agentToken = await s.token({ sub: "agent-x", role: "agent", ttlSeconds: 60 });
    const credential = await mintLogCredential(s.authSecret, { jobId: "j-logtest", attempt: 1, agentId: "agent-x", org: "default", ttlSeconds: 60 });
    const batch = { jobId: "j-logtest", attempt: 1, lines: [{ n: 0, ts: 1, stream: "out", text: "a" }, { n: 1, ts: 2, stream: "out", text: "b" }] };
    const post = (token: string | null, body: unknown = batch, cred: string | null = credential) =>
      s.api("/v1/logs", { method: "POST", json: body, token, headers: cred ? { [LOG_CREDENTIAL_HEADER]: cred } : {} });
    expect((await post(null)).status).toBe(401);
    expect((await post(agentToken, batch, null)).status).toBe(403); // no credential: not this agent's to write
    expect((await post(agentToken)).body.inserted).toBe(2);
    expect((await post(agentToken)).body.inserted).toBe(0); // resent: nothing stored twice
    expect((await post(agentToken, { ...batch, lines: [{ n: 0, ts: 1, stream: "bogus", text: "a" }] })).status).toBe(422);
    expect((await s.api("/v1/jobs/j-logtest/logs", { token: agentToken })).status).toBe(403); // agents do not read logs
    const r = await s.api("/v1/jobs/j-logtest/logs?offset=1");
    expect(r.body.lines.map((l: { text: string }) => l.text)).toEqual(["b"]);
    expect(r.body.ended).toBe(false);
  });

  test("follow streams lines live and ends with the job", async () => {
    const job = await s.submit({ command: ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.2; done"] });
    const res = await fetch(`${s.logsUrl}/v1/jobs/${job.id}/logs/follow`, { headers: { authorization: `Bearer ${s.adminToken}` } });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text(); // returns only once the stream ends
    const lines = text.split("\n").filter((l) => l.startsWith("data: {\"attempt")).map((l) => JSON.parse(l.slice(6)).text);
    expect(lines).toEqual(["line 1", "line 2", "line 3"]);
  });
});

describe("NATS users (written by the supervisor)", () => {
  test("nats-server runs with one user per process and per agent, and reported no permissions violation for any of the jobs above", async () => {
    const { readFileSync, statSync } = await import("node:fs");
    const conf = readFileSync(`${s.dataDir}/nats.conf`, "utf8");
    expect(conf).not.toMatch(/\btoken:/);
    for (const user of ["control", "logs", "cache", `agent-${s.agentId("agent-1")}`]) expect(conf).toContain(`user: "${user}"`);
    expect(statSync(`${s.dataDir}/nats-users/agent-${s.agentId("agent-1")}`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${s.dataDir}/logs/nats.log`, "utf8")).not.toContain("Violation");
  });
});
