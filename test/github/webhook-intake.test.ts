/**
 * Webhook intake against a real nats-server and the real control plane over HTTP: signature,
 * headers, JSON, replay fence, idempotent job creation, labels, body limit, per-org rate limit.
 * Nothing that is refused may enqueue anything.
 */
import { putAgent, removeAgent } from "../../src/agents/registry.ts";
import { DOCKER_NEEDS } from "../../src/jobs/docker-serving.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Webhooks } from "@octokit/webhooks";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { startControlPlane, type RunningControlPlane } from "../../src/control/server.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { QUEUE_STREAM, EVENTS_STREAM } from "../../src/nats/topology.ts";
import { getJobFacts } from "../../src/github/facts.ts";
import { generateKeyPairSync } from "node:crypto";
import { orgOfLogin } from "../../src/jobs/org.ts";
import { isOrgId } from "../../src/auth/principal.ts";

const FIXTURES = resolve(import.meta.dir, "../fixtures/github-webhooks/examples");
const SECRET = "webhook-secret-for-tests-0123456789";
const webhooks = new Webhooks({ secret: SECRET });
const AUTH = "a".repeat(40);

let nats: NatsServer;
let cp: RunningControlPlane;
let url: string;
let admin: string;

function fixture(name: string): any {
  return JSON.parse(readFileSync(`${FIXTURES}/${name}.payload.json`, "utf8"));
}
let nextId = 9_000_000;
function queued(labels = ["self-hosted", "nimbus"], org = "octo-org", action = "queued", id = nextId++): any {
  const p = fixture(action === "queued" ? "queued" : action === "in_progress" ? "in_progress" : "completed.success.with-organization");
  p.action = action;
  p.workflow_job = { ...p.workflow_job, id, labels, status: action, runner_id: action === "queued" ? null : 5, runner_name: action === "queued" ? null : "GitHub Actions 5" };
  p.organization = { login: org, id: 1 };
  p.installation = { id: 31337 };
  return p;
}

async function deliver(body: string, headers: Record<string, string | null> = {}): Promise<{ status: number; body: any }> {
  const h: Record<string, string> = {
    "content-type": "application/json",
    "x-github-event": "workflow_job",
    "x-github-delivery": randomUUID(),
    "x-hub-signature-256": await webhooks.sign(body),
  };
  for (const [k, v] of Object.entries(headers)) if (v === null) delete h[k];
  else h[k] = v;
  const res = await fetch(`${url}/webhooks/github`, { method: "POST", headers: h, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function queueCount(): Promise<number> {
  return (await cp.ctx.topology.jsm.streams.info(QUEUE_STREAM)).state.messages;
}

beforeAll(async () => {
  nats = await startNats();
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const cfg = loadConfig(controlSettings, {
    NIMBUS_NATS_URL: nats.url,
    NIMBUS_AUTH_SECRET: AUTH,
    NIMBUS_SECRETS_KEY: Buffer.alloc(32, 1).toString("base64url"),
    NIMBUS_CONTROL_PORT: String(await freePort()),
    NIMBUS_GITHUB_WEBHOOK_SECRET: SECRET,
    NIMBUS_GITHUB_APP_ID: "1",
    NIMBUS_GITHUB_APP_PRIVATE_KEY: key,
    NIMBUS_GITHUB_API_URL: "http://127.0.0.1:9", // nothing answers: intake must never call GitHub
    NIMBUS_ORG_SUBMISSIONS_PER_WINDOW: "5",
    NIMBUS_ORG_WINDOW_MS: "600000",
    NIMBUS_GITHUB_POLL_INTERVAL_MS: "3600000",
  });
  cp = await startControlPlane(cfg);
  url = cp.url;
  admin = (await bootstrapToken(cp.ctx.tokens, { sub: "admin", role: "operator", ttlSeconds: 600 })).token;
}, 30_000);

afterAll(async () => {
  await cp?.stop();
  await nats?.stop();
});

describe("bad input never enqueues", () => {
  test("forged, missing signature → 401; missing headers, malformed JSON → 400; nothing queued", async () => {
    const before = await queueCount();
    const body = JSON.stringify(queued());
    expect((await deliver(body, { "x-hub-signature-256": "sha256=" + "0".repeat(64) })).status).toBe(401);
    expect((await deliver(body, { "x-hub-signature-256": null })).status).toBe(401);
    const forgedBody = await deliver(body.replace('"nimbus"', '"nimbus-8vcpu-32gb"'), { "x-hub-signature-256": await webhooks.sign(body) });
    expect(forgedBody.status).toBe(401);
    expect((await deliver(body, { "x-github-event": null })).status).toBe(400);
    const noDelivery = await deliver(body, { "x-github-delivery": null });
    expect(noDelivery).toMatchObject({ status: 400, body: { code: "bad_request" } });
    const malformed = "{not json";
    expect(await deliver(malformed)).toMatchObject({ status: 400, body: { code: "invalid_json" } });
    const wrongShape = JSON.stringify({ action: "queued", workflow_job: { id: "x" } });
    expect((await deliver(wrongShape)).status).toBe(400);
    expect(await queueCount()).toBe(before);
    expect(cp.ctx.index.list({ limit: 10_000 }).length).toBe(0);
  });

  test("a body past 25 MB is 413 (a 2 MB one is accepted)", async () => {
    const big = JSON.stringify({ ...queued(["linux"]), pad: "x".repeat(2 * 1024 * 1024) });
    expect((await deliver(big)).status).toBe(200);
    const huge = "x".repeat(25 * 1024 * 1024 + 10);
    const res = await fetch(`${url}/webhooks/github`, { method: "POST", headers: { "x-github-event": "ping", "x-github-delivery": "d1", "x-hub-signature-256": "sha256=00" }, body: huge });
    expect(res.status).toBe(413);
  });
});

describe("intake", () => {
  test("ping is answered; other events and other labels are accepted and ignored", async () => {
    const ping = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    expect(await deliver(ping, { "x-github-event": "ping" })).toMatchObject({ status: 200, body: { outcome: "pong" } });
    expect(await deliver(JSON.stringify({ action: "opened" }), { "x-github-event": "issues" })).toMatchObject({ status: 200, body: { outcome: "ignored" } });
    expect(await deliver(JSON.stringify(queued(["ubuntu-latest"])))).toMatchObject({ status: 200, body: { outcome: "ignored", reason: "no base label" } });
  });

  test("queued creates the job keyed by the GitHub job id, once; a replay is 200 and does nothing", async () => {
    const p = queued(["self-hosted", "nimbus", "nimbus-4vcpu-16gb"]);
    const body = JSON.stringify(p);
    const delivery = randomUUID();
    const before = await queueCount();
    const first = await deliver(body, { "x-github-delivery": delivery });
    expect(first).toMatchObject({ status: 201, body: { outcome: "created", jobId: `gh-${p.workflow_job.id}` } });
    const replay = await deliver(body, { "x-github-delivery": delivery });
    expect(replay).toMatchObject({ status: 200, body: { duplicate: true } });
    const again = await deliver(body); // GitHub sent the same event twice under two ids
    expect(again).toMatchObject({ status: 200, body: { outcome: "exists" } });
    expect(await queueCount()).toBe(before + 1);
    const job = (await cp.ctx.store.get(`gh-${p.workflow_job.id}`))!.value;
    expect(job).toMatchObject({ source: "github", state: "queued", pool: "x64.sandbox.4c16g", command: ["/runner/run.sh"] });
    expect(job.github).toMatchObject({ jobId: p.workflow_job.id, installationId: 31337, org: "octo-org", via: "webhook", runnerFailures: 0 });
  });

  test("a replay racing its original: one job, one queue message, one of them answered as the duplicate", async () => {
    const p = queued(["nimbus"], "race-org");
    const body = JSON.stringify(p);
    const delivery = randomUUID();
    const before = await queueCount();
    const answers = await Promise.all(Array.from({ length: 4 }, () => deliver(body, { "x-github-delivery": delivery })));
    expect(answers.filter((a) => a.body?.duplicate).length).toBe(3);
    expect(answers.every((a) => a.status === 200 || a.status === 201)).toBe(true);
    expect(await queueCount()).toBe(before + 1);
    expect((await cp.ctx.store.get(`gh-${p.workflow_job.id}`))!.value.state).toBe("queued");
  });

  test("impossible labels are rejected visibly: a failed job with the reason and its event", async () => {
    const p = queued(["nimbus", "nimbus-64vcpu-512gb"]);
    const r = await deliver(JSON.stringify(p));
    expect(r.status).toBe(201);
    const job = (await cp.ctx.store.get(`gh-${p.workflow_job.id}`))!.value;
    expect(job.state).toBe("failed");
    expect(job.reason).toContain("no size class fits 64 vCPU / 512 GB");
    const info = await cp.ctx.topology.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: `nimbus.events.job.gh-${p.workflow_job.id}` });
    expect(info!.json<{ to: string }>().to).toBe("failed");
  });

  test("a docker job no agent serves fails at once saying it needs a VM agent on the ci image; once one serves the pool, docker jobs queue", async () => {
    const before = await queueCount();
    const p = queued(["self-hosted", "nimbus", "docker"], "dock-org");
    expect((await deliver(JSON.stringify(p))).status).toBe(201);
    const job = (await cp.ctx.store.get(`gh-${p.workflow_job.id}`))!.value;
    expect(job.state).toBe("failed");
    expect(job.reason).toContain(`no agent serves pool ${job.pool}`);
    expect(job.reason).toContain(DOCKER_NEEDS);
    expect(await queueCount()).toBe(before); // no message, so no runner is ever minted for it
    const served = { hostname: "h", labels: [], drivers: ["qemu"], slots: 1, running: [], draining: false, startedAt: Date.now(), heartbeatAt: Date.now(), version: "test" };
    await putAgent(cp.ctx.topology.agents, { ...served, id: "vm-agent", pools: [job.pool] });
    try {
      const q = queued(["self-hosted", "nimbus", "docker"], "dock-org");
      expect((await deliver(JSON.stringify(q))).status).toBe(201);
      expect((await cp.ctx.store.get(`gh-${q.workflow_job.id}`))!.value.state).toBe("queued");
      expect(await queueCount()).toBe(before + 1);
      // A draining agent is not one that serves: the next docker job fails again.
      await putAgent(cp.ctx.topology.agents, { ...served, id: "vm-agent", pools: [job.pool], draining: true });
      const r = queued(["self-hosted", "nimbus", "docker"], "dock-org");
      await deliver(JSON.stringify(r));
      expect((await cp.ctx.store.get(`gh-${r.workflow_job.id}`))!.value.state).toBe("failed");
    } finally {
      await removeAgent(cp.ctx.topology.agents, "vm-agent");
    }
  });

  test("in_progress before queued (reordered) records the runner that took it; the late queued starts nothing", async () => {
    const id = nextId++;
    const before = await queueCount();
    expect((await deliver(JSON.stringify(queued(["nimbus"], "octo-org", "in_progress", id)))).status).toBe(200);
    const facts = await getJobFacts(cp.ctx.topology.github, id);
    expect(facts).toMatchObject({ status: "in_progress", runnerName: "GitHub Actions 5", runnerId: 5 });
    expect((await cp.ctx.store.get(`gh-${id}`))!.value.state).toBe("awaiting_github");
    expect((await deliver(JSON.stringify(queued(["nimbus"], "octo-org", "queued", id)))).body.outcome).toBe("exists");
    const done = await deliver(JSON.stringify(queued(["nimbus"], "octo-org", "completed", id)));
    expect(done.status).toBe(200);
    expect(await getJobFacts(cp.ctx.topology.github, id)).toMatchObject({ status: "completed", conclusion: "success" });
    // a late in_progress never undoes completed
    await deliver(JSON.stringify(queued(["nimbus"], "octo-org", "in_progress", id)));
    expect((await getJobFacts(cp.ctx.topology.github, id))!.status).toBe("completed");
    expect(await queueCount()).toBe(before);
  });

  test("per-organisation rate limit: a clear 429 and a metric; other organisations unaffected", async () => {
    const results: number[] = [];
    for (let i = 0; i < 7; i++) results.push((await deliver(JSON.stringify(queued(["nimbus"], "busy-org")))).status);
    expect(results.filter((s) => s === 201).length).toBe(5);
    const refused = await deliver(JSON.stringify(queued(["nimbus"], "busy-org")));
    expect(refused).toMatchObject({ status: 429, body: { code: "rate_limited" } });
    expect(refused.body.message).toContain("busy-org");
    expect((await deliver(JSON.stringify(queued(["nimbus"], "calm-org")))).status).toBe(201);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/nimbus_github_rate_limited_total 3/);
  });

  test("a GitHub job belongs to the org of its installation's account: lower-cased; an odd login mapped to a valid org id", async () => {
    const org = async (p: any) => {
      const r = await deliver(JSON.stringify(p));
      expect(r.status).toBe(201);
      return (await cp.ctx.store.get(r.body.jobId))!.value.org;
    };
    expect(await org(queued(["nimbus"], "Octo-Org"))).toBe("octo-org");
    // A user account: no organisation in the payload, the repository's owner is the account.
    const user = queued(["nimbus"], "unused");
    delete user.organization;
    user.repository = { ...user.repository, owner: { ...user.repository.owner, login: "Mona", type: "User" } };
    expect(await org(user)).toBe("mona");
    // The installation's account, when the payload names it, wins.
    const named = queued(["nimbus"], "Other-Org");
    named.installation = { id: 31337, account: { login: "Install-Account" } };
    expect(await org(named)).toBe("install-account");
    const odd = await org(queued(["nimbus"], "Odd_Login.Name"));
    expect(odd).toBe(orgOfLogin("Odd_Login.Name"));
    expect(odd).toMatch(/^odd-login-name--[0-9a-f]{16}$/);
    expect(isOrgId(odd)).toBe(true);
  });

  test("labels explain and latency over the API", async () => {
    const r = await fetch(`${url}/api/labels/explain?labels=nimbus,docker,gpu-count:2,nimbus-4vcpu-8gb`, { headers: { authorization: `Bearer ${admin}` } });
    const body = await r.json();
    expect(body).toMatchObject({ ours: true, pool: "x64.vm.4c16g.gpu2.docker" });
    expect(body.labels[1]).toMatchObject({ label: "docker", meaning: expect.stringContaining("a VM agent whose active image is the ci image") });
    const bad = await (await fetch(`${url}/api/labels/explain?labels=nimbus,isolation:sandbox,docker`, { headers: { authorization: `Bearer ${admin}` } })).json();
    expect(bad.error).toContain("need isolation:vm");
    const job = cp.ctx.index.list({ state: "queued", limit: 1 })[0]!;
    const lat = await (await fetch(`${url}/api/jobs/${job.id}/latency`, { headers: { authorization: `Bearer ${admin}` } })).json();
    expect(lat.points.map((p: { name: string }) => p.name)).toEqual(["github_created", "received", "queued"]);
  });
});
