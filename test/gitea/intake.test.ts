/**
 * Gitea/Forgejo webhook intake (issue #16 part 3), on a real control plane and nats-server, with
 * GitHub on beside a Gitea and a Forgejo connection, fed by the simulator's signed deliveries:
 * a queued job becomes one Nimbus job in the connection's org with the GitHub labels grammar;
 * replays, forged or cross-connection signatures, unknown connections and malformed bodies are
 * refused or fenced and create nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import type { RunningControlPlane } from "../../src/control/server.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { testControlPlane } from "../support/control.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { recordedToken } from "../support/tokens.ts";
import { startGiteaSim, type GiteaSim } from "../gitea-sim/sim.ts";
import { GiteaWebhooks } from "../gitea-sim/webhooks.ts";

const SECRET = "gitea-intake-auth-secret-0123456789abcdef";
const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const TEA_SECRET = "tea-webhook-secret-0123456789";
const FJ_SECRET = "forgejo-webhook-secret-0123456789";
let nats: NatsServer;
let control: RunningControlPlane;
let tea: GiteaSim;
let fj: GiteaSim;
let op: string;

beforeAll(async () => {
  nats = await startNats();
  tea = await startGiteaSim({ kind: "gitea", webhookSecret: TEA_SECRET });
  fj = await startGiteaSim({ kind: "forgejo", webhookSecret: FJ_SECRET });
  const forges = [
    { id: "tea", kind: "gitea", url: tea.url, token: tea.rest.apiToken, webhookSecret: TEA_SECRET, org: "acme" },
    { id: "fj", kind: "forgejo", url: fj.url, token: fj.rest.apiToken, webhookSecret: FJ_SECRET, org: "globex" },
  ];
  control = await testControlPlane({ natsUrl: nats.url, authSecret: SECRET, webhookSecret: "github-hook-secret-0123456789", env: { NIMBUS_FORGES: JSON.stringify(forges), NIMBUS_FORGE_POLL_INTERVAL_MS: "3600000" } });
  tea.hooks.target = `${control.url}/webhooks/forge/tea`;
  fj.hooks.target = `${control.url}/webhooks/forge/fj`;
  op = await recordedToken(nats.url, SECRET, { sub: "op", role: "operator", ttlSeconds: 600 });
}, 30_000);
afterAll(async () => {
  await tea?.stop();
  await fj?.stop();
  await control?.stop();
  await nats?.stop();
});

async function job(id: string): Promise<{ status: number; job?: JobRecord }> {
  const r = await fetch(`${control.url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${op}` } });
  return { status: r.status, job: r.status === 200 ? ((await r.json()) as { job: JobRecord }).job : undefined };
}
async function jobCount(): Promise<number> {
  const r = await fetch(`${control.url}/api/jobs?limit=10000`, { headers: { authorization: `Bearer ${op}` } });
  return ((await r.json()) as { jobs: unknown[] }).jobs.length;
}
const post = (path: string, headers: Record<string, string>, body: string) => fetch(`${control.url}${path}`, { method: "POST", headers, body });

describe("a signed workflow_job delivery", () => {
  test("Gitea: queued → one Nimbus job in the connection's org, labels parsed as for GitHub, enqueued", async () => {
    const j = tea.model.addJob({ repo: "acme/app", labels: ["nimbus", "nimbus-4vcpu-16gb", "docker"], name: "build" });
    await tea.hooks.settle();
    expect(tea.hooks.sent.at(-1)!.status).toBe(201);
    const r = await job(`gt-tea-${j.id}`);
    expect(r.status).toBe(200);
    expect(r.job).toMatchObject({ state: "queued", source: "gitea", org: "acme", name: "build", createdBy: "gitea:tea", command: ["act_runner", "daemon", "--once"] });
    expect(r.job!.requirements).toMatchObject({ docker: true, size: { vcpus: 4, memoryGb: 16 } });
    expect(r.job!.forge).toMatchObject({ forgeId: "tea", kind: "gitea", jobId: j.id, runId: j.runId, repo: "acme/app", via: "webhook", runners: [] });
    // `nimbus jobs show` names the forge.
    const p = Bun.spawn([BIN, "jobs", "show", `gt-tea-${j.id}`], { env: { ...process.env, NIMBUS_DATA_DIR: "/nonexistent-nimbus", NIMBUS_URL: control.url, NIMBUS_TOKEN: op }, stdout: "pipe", stderr: "pipe" });
    const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
    expect(code).toBe(0);
    expect(out).toContain(`gitea    tea: acme/app job ${j.id} (run ${j.runId}, via webhook)`);
  });

  test("Forgejo: its own connection, org and kind; a duplicated delivery is fenced (200 duplicate), one job", async () => {
    fj.hooks.faults.duplicate = 1;
    const before = await jobCount();
    const j = fj.model.addJob({ repo: "globex/web", labels: ["nimbus"] });
    await fj.hooks.settle();
    fj.hooks.faults.duplicate = 0;
    const statuses = fj.hooks.sent.filter((s) => s.jobId === j.id).map((s) => s.status).sort();
    expect(statuses).toEqual([200, 201]);
    expect(await jobCount()).toBe(before + 1);
    expect((await job(`gt-fj-${j.id}`)).job).toMatchObject({ source: "forgejo", org: "globex", state: "queued" });
  });

  test("a new delivery for a job already known is 200 exists; impossible labels make a failed job saying why", async () => {
    const j = tea.model.addJob({ repo: "acme/app", labels: ["nimbus"] });
    await tea.hooks.settle();
    tea.hooks.emit(j, "queued");
    await tea.hooks.settle();
    expect(tea.hooks.sent.filter((s) => s.jobId === j.id).map((s) => s.status)).toEqual([201, 200]);
    const bad = tea.model.addJob({ repo: "acme/app", labels: ["nimbus", "nimbus-999vcpu-1gb"] });
    await tea.hooks.settle();
    const r = (await job(`gt-tea-${bad.id}`)).job!;
    expect(r.state).toBe("failed");
    expect(r.reason).toStartWith("rejected: ");
    // act_runner reads a colon as a label schema: Gitea could never assign this job to a runner, so it fails at once.
    const colon = tea.model.addJob({ repo: "acme/app", labels: ["nimbus", "isolation:vm"] });
    await tea.hooks.settle();
    expect((await job(`gt-tea-${colon.id}`)).job).toMatchObject({ state: "failed", reason: expect.stringContaining("has a colon") });
  });

  test("no base label, other events and actions: 200 ignored, nothing created", async () => {
    const before = await jobCount();
    tea.model.addJob({ repo: "acme/app", labels: ["ubuntu-latest"] });
    await tea.hooks.settle();
    expect(tea.hooks.sent.at(-1)!.status).toBe(200);
    const signer = new GiteaWebhooks(TEA_SECRET, "", "gitea");
    const push = JSON.stringify({ ref: "refs/heads/main" });
    const r = await post("/webhooks/forge/tea", signer.sign(push, crypto.randomUUID(), "push"), push);
    expect([r.status, (await r.json()).outcome]).toEqual([200, "ignored"]);
    const done = JSON.stringify(signer.payload(tea.model.addJob({ repo: "acme/x", labels: ["nimbus"] }), "completed"));
    await tea.hooks.settle();
    const c = await post("/webhooks/forge/tea", signer.sign(done), done);
    expect((await c.json()).outcome).toBe("ignored");
    expect(await jobCount()).toBe(before + 1); // only the job the simulator's own queued delivery announced
  });
});

describe("hostile deliveries create nothing", () => {
  const signer = new GiteaWebhooks(TEA_SECRET, "", "gitea");
  const fjSigner = new GiteaWebhooks(FJ_SECRET, "", "forgejo");
  const body = (id: number) => JSON.stringify({ action: "queued", workflow_job: { id, run_id: 1, name: "x", labels: ["nimbus"], status: "waiting" }, repository: { name: "app", full_name: "acme/app", owner: { login: "acme" } } });

  test("unknown connection 404; no signature 401; a wrong signature 401; a signature of another connection's secret 401", async () => {
    const before = await jobCount();
    const b = body(900001);
    expect((await post("/webhooks/forge/nope", signer.sign(b), b)).status).toBe(404);
    const unsigned = signer.sign(b);
    delete unsigned["x-gitea-signature"];
    expect((await post("/webhooks/forge/tea", unsigned, b)).status).toBe(401);
    expect((await post("/webhooks/forge/tea", { ...signer.sign(b), "x-gitea-signature": "ab".repeat(32) }, b)).status).toBe(401);
    expect((await post("/webhooks/forge/tea", { ...signer.sign(b), "x-gitea-signature": "not-hex" }, b)).status).toBe(401);
    expect((await post("/webhooks/forge/tea", fjSigner.sign(b), b)).status).toBe(401); // Forgejo's secret on Gitea's path
    expect((await post("/webhooks/forge/fj", signer.sign(b), b)).status).toBe(401); // and the other way round
    const tampered = signer.sign(b);
    expect((await post("/webhooks/forge/tea", tampered, b.replace("acme/app", "evil/app"))).status).toBe(401);
    expect(await jobCount()).toBe(before);
    expect((await job("gt-tea-900001")).status).toBe(404);
  });

  test("signed but malformed: bad JSON 400, missing fields 400, bad delivery id 400, oversized 413; a replayed delivery id 200 duplicate", async () => {
    const before = await jobCount();
    const bad = "{nope";
    expect((await post("/webhooks/forge/tea", signer.sign(bad), bad)).status).toBe(400);
    const missing = JSON.stringify({ action: "queued", workflow_job: { id: -1, labels: ["nimbus"] } });
    const m = await post("/webhooks/forge/tea", signer.sign(missing), missing);
    expect([m.status, (await m.json()).message]).toEqual([400, expect.stringContaining("workflow_job.id")]);
    const b = body(900002);
    expect((await post("/webhooks/forge/tea", signer.sign(b, "bad id with spaces"), b)).status).toBe(400);
    const big = JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) });
    expect((await post("/webhooks/forge/tea", signer.sign(big), big)).status).toBe(413);
    expect(await jobCount()).toBe(before);
    const h = signer.sign(b);
    expect((await post("/webhooks/forge/tea", h, b)).status).toBe(201);
    const again = await post("/webhooks/forge/tea", h, b);
    expect([again.status, (await again.json()).duplicate]).toEqual([200, true]);
    expect(await jobCount()).toBe(before + 1);
  });

  test("the forge counters say what happened, per connection and kind", async () => {
    const text = await (await fetch(`${control.url}/metrics`)).text();
    expect(text).toMatch(/nimbus_forge_webhooks_total\{forge="tea",kind="gitea",outcome="created"\} \d+/);
    expect(text).toMatch(/nimbus_forge_webhooks_total\{forge="fj",kind="forgejo",outcome="duplicate"\} 1/);
  });
});
