/**
 * `docker` jobs (issue #13 part 2): only a VM agent whose active image carries Docker (the ci
 * image) serves them. Against a real nats-server and the real control plane over HTTP: with no
 * agent, or only agents that cannot serve docker (a sandbox agent, a VM agent on another image),
 * a docker job is refused at once (503, naming the pool and what it needs) and nothing is recorded
 * or queued; once an agent advertises the docker pool (as one on the ci image does) it is accepted.
 * `labels explain docker` says the same. The agent side: which active image serves docker.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats, type NatsServer } from "../support/nats.ts";
import { testControlPlane } from "../support/control.ts";
import { type RunningControlPlane } from "../../src/control/server.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { QUEUE_STREAM } from "../../src/nats/topology.ts";
import { putAgent, removeAgent, type AgentInfo } from "../../src/agents/registry.ts";
import { poolsFor } from "../../src/jobs/labels.ts";
import { ImageStore } from "../../agent/images/store.ts";

const AUTH = "d".repeat(40);
let nats: NatsServer;
let cp: RunningControlPlane;
let admin: string;
let tenant: string;

beforeAll(async () => {
  nats = await startNats();
  cp = await testControlPlane({ natsUrl: nats.url, authSecret: AUTH, webhookSecret: "webhook-secret-for-tests-0123456789" });
  admin = (await bootstrapToken(cp.ctx.tokens, { sub: "admin", role: "operator", ttlSeconds: 600 })).token;
  tenant = (await bootstrapToken(cp.ctx.tokens, { sub: "dev", role: "member", org: "org-a", ttlSeconds: 600 })).token;
}, 30_000);

afterAll(async () => {
  await cp?.stop();
  await nats?.stop();
});

function agent(id: string, pools: string[]): AgentInfo {
  return { id, hostname: "h", labels: [], pools, drivers: [], slots: 1, running: [], draining: false, startedAt: Date.now(), heartbeatAt: Date.now(), version: "test" };
}

async function submit(labels: string[], token = tenant): Promise<{ status: number; body: any }> {
  const r = await fetch(`${cp.url}/api/jobs`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ command: ["docker", "info"], labels }) });
  return { status: r.status, body: await r.json() };
}

const queued = async () => (await cp.ctx.topology.jsm.streams.info(QUEUE_STREAM)).state.messages;
const cap = { arch: "x64" as const, vcpus: 4, memoryGb: 16, gpus: 0 };

test("a docker job no live agent can serve is refused at once, naming its pool and the ci image; nothing is recorded or queued", async () => {
  const before = await queued();
  const none = await submit(["nimbus", "docker"]);
  expect(none.status).toBe(503);
  expect(none.body).toMatchObject({ code: "unavailable", details: { pool: "x64.vm.2c4g.docker", reason: "no_docker_agent" } });
  expect(none.body.message).toBe("label docker: no agent serves pool x64.vm.2c4g.docker: a docker job needs a VM agent whose active image is the ci image (nimbus up --vm, or on a qemu agent: nimbus images build ci --activate); sandbox agents and VM agents on other images cannot serve it");

  // A sandbox agent and a VM agent without a docker-capable image: their pools have no docker.
  await putAgent(cp.ctx.topology.agents, agent("sandbox-1", poolsFor({ ...cap, isolations: ["sandbox"], docker: true })));
  await putAgent(cp.ctx.topology.agents, agent("vm-test-rootfs", poolsFor({ ...cap, isolations: ["vm"], docker: false })));
  const still = await submit(["nimbus", "docker", "nimbus-4vcpu-16gb"]);
  expect(still.status).toBe(503);
  expect(still.body.message).toContain("no agent serves pool x64.vm.4c16g.docker");
  // Replayed (same idempotency key) and by an operator for another org: refused the same way.
  const keyed = await fetch(`${cp.url}/api/jobs`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", "idempotency-key": "k1" }, body: JSON.stringify({ command: ["true"], labels: ["nimbus", "docker"], org: "org-b" }) });
  expect(keyed.status).toBe(503);
  expect((await fetch(`${cp.url}/api/jobs`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", "idempotency-key": "k1" }, body: JSON.stringify({ command: ["true"], labels: ["nimbus", "docker"], org: "org-b" }) })).status).toBe(503);
  // A forged token changes nothing and never reaches the check.
  expect((await submit(["nimbus", "docker"], tenant.slice(0, -4) + "AAAA")).status).toBe(401);
  // Sandbox-isolated docker is a label error, not a wait.
  const sandboxed = await submit(["nimbus", "docker", "isolation:sandbox"]);
  expect(sandboxed).toMatchObject({ status: 422, body: { code: "validation_failed" } });
  expect(await queued()).toBe(before);
  expect(cp.ctx.index.list({ limit: 10_000 }).length).toBe(0);

  // Non-docker jobs are not affected (they wait for an agent as before).
  expect((await submit(["nimbus"])).status).toBe(201);

  // A VM agent on the ci image advertises the docker pools: the job is accepted and queued there.
  await putAgent(cp.ctx.topology.agents, agent("vm-ci", poolsFor({ ...cap, isolations: ["vm"], docker: true })));
  const ok = await submit(["nimbus", "docker"]);
  expect(ok.status).toBe(201);
  expect(ok.body.job).toMatchObject({ pool: "x64.vm.2c4g.docker", state: "queued" });
  // A draining agent does not count.
  await putAgent(cp.ctx.topology.agents, { ...agent("vm-ci", poolsFor({ ...cap, isolations: ["vm"], docker: true })), draining: true });
  expect((await submit(["nimbus", "docker"])).status).toBe(503);
  await removeAgent(cp.ctx.topology.agents, "vm-ci");
});

test("labels explain docker says it needs a VM agent on the ci image (API and CLI)", async () => {
  const body = await (await fetch(`${cp.url}/api/labels/explain?labels=nimbus,docker`, { headers: { authorization: `Bearer ${admin}` } })).json();
  expect(body.labels[1].meaning).toBe("needs a Docker daemon: runs only on a VM agent whose active image is the ci image (nimbus up --vm, or on a qemu agent: nimbus images build ci --activate); sandbox agents and VM agents on other images cannot serve it");
  const cli = Bun.spawnSync([join(import.meta.dir, "../../bin/nimbus"), "labels", "explain", "nimbus", "docker"], { stdout: "pipe", stderr: "pipe" });
  expect(cli.exitCode).toBe(0);
  expect(cli.stdout.toString()).toContain("docker  needs a Docker daemon: runs only on a VM agent whose active image is the ci image");
});

test("the agent serves docker only when its active image carries Docker", () => {
  const store = new ImageStore(mkdtempSync(join(tmpdir(), "nimbus-docker-img-")));
  expect(store.activeServesDocker()).toBe(false);
  const ci = { version: "ci", digest: "c".repeat(64), sizeBytes: 1, builtAt: "2026-01-01T00:00:00Z", docker: true };
  const plain = { version: "plain", digest: "b".repeat(64), sizeBytes: 1, builtAt: "2026-01-01T00:00:00Z" };
  store.record(ci);
  store.record(plain);
  for (const img of [ci, plain]) writeFileSync(store.pathOf(img.digest), "x");
  store.activate("plain");
  expect(store.activeServesDocker()).toBe(false);
  store.activate("ci");
  expect(store.activeServesDocker()).toBe(true);
});
