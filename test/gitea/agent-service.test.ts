/**
 * The forge service agents call over NATS (issue #16 part 4), on a real nats-server and control
 * plane with the simulator as the forge: the lease holder of a forge job's attempt gets its runner's
 * `.runner` file (never the registration or API token) and the stand-in takes the task with it;
 * another agent, another attempt, a job that is not a forge job and a malformed request are refused
 * and register nothing; removal touches only that job's runner.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { RunningControlPlane } from "../../src/control/server.ts";
import { callForgeService, FORGE_SUBJECTS } from "../../src/gitea/agent-service.ts";
import type { MintedForgeRunner } from "../../src/gitea/runners.ts";
import { isAppError } from "../../src/core/errors.ts";
import { testControlPlane } from "../support/control.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { waitFor } from "../support/net.ts";
import { startGiteaSim, type GiteaSim } from "../gitea-sim/sim.ts";

const STANDIN = resolve(import.meta.dir, "../gitea-sim/runner.ts");
const SECRET = "gitea-agent-svc-auth-secret-0123456789abc";
const HOOK = "tea-agent-svc-webhook-secret-0123";
let nats: NatsServer;
let control: RunningControlPlane;
let sim: GiteaSim;
let nc: NatsConnection;
const dirs: string[] = [];

beforeAll(async () => {
  nats = await startNats();
  sim = await startGiteaSim({ kind: "gitea", webhookSecret: HOOK });
  const forges = [{ id: "tea", kind: "gitea", url: sim.url, token: sim.rest.apiToken, webhookSecret: HOOK, org: "acme" }];
  control = await testControlPlane({ natsUrl: nats.url, authSecret: SECRET, webhookSecret: "github-hook-secret-0123456789", env: { NIMBUS_FORGES: JSON.stringify(forges), NIMBUS_FORGE_POLL_INTERVAL_MS: "3600000" } });
  sim.hooks.target = `${control.url}/webhooks/forge/tea`;
  nc = await connect({ servers: nats.url });
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await sim?.stop();
  await control?.stop();
  await nats?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A forge job as an agent would hold it: leased to `agentId` at attempt 1, with its lease key. */
async function leasedJob(labels: string[], agentId = "agent-1") {
  const sj = sim.model.addJob({ repo: "acme/app", labels });
  await sim.hooks.settle();
  const id = `gt-tea-${sj.id}`;
  await waitFor(async () => (await control.ctx.store.get(id)) !== null, 5_000, id);
  const cur = (await control.ctx.store.get(id))!;
  await control.ctx.store.transition(cur, "leased", { agentId });
  await control.ctx.topology.leases.put(id, JSON.stringify({ jobId: id, agentId, attempt: 1, ttlMs: 600_000 }));
  return { sj, id };
}

const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e) => (isAppError(e) ? e.code : String(e)));
const liveRunners = () => [...sim.model.runners.values()].filter((r) => !r.deleted).length;

describe("the forge service", () => {
  test("the lease holder gets the .runner file; the stand-in takes the task with it; no forge secret in the reply", async () => {
    const { sj, id } = await leasedJob(["nimbus"]);
    const m = await callForgeService<MintedForgeRunner>(nc, FORGE_SUBJECTS.runner, { jobId: id, attempt: 1, agentId: "agent-1" });
    expect(m.runnerName).toBe(`nimbus-${id}-1`);
    const reply = JSON.stringify(m);
    expect(reply).not.toContain(sim.model.registrationToken({ level: "instance" }));
    expect(reply).not.toContain(sim.rest.apiToken);
    const dir = mkdtempSync(join(tmpdir(), "gitea-agent-svc-"));
    dirs.push(dir);
    writeFileSync(join(dir, ".runner"), m.file);
    const p = Bun.spawn([process.execPath, STANDIN, "daemon", "--once"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, STANDIN_POLL_MS: "50", STANDIN_FETCH_TIMEOUT_MS: "10000" } });
    expect(await p.exited).toBe(0);
    expect(sim.model.jobs.get(sj.id)).toMatchObject({ status: "success", runnerName: m.runnerName });
    // Teardown: the forge already dropped the ephemeral runner; removal finds nothing to delete.
    expect(await callForgeService<number>(nc, FORGE_SUBJECTS.remove, { jobId: id, attempt: 1, agentId: "agent-1" })).toBe(0);
  }, 30_000);

  test("another agent, another attempt, a direct job, an unknown job, a malformed request: refused, nothing registered", async () => {
    const { id } = await leasedJob(["nimbus"]);
    const direct = await control.ctx.store.create({ ...(await control.ctx.store.get(id))!.value, id: "direct-job-1", source: "direct", forge: undefined });
    const before = liveRunners();
    expect(await codeOf(callForgeService(nc, FORGE_SUBJECTS.runner, { jobId: id, attempt: 1, agentId: "agent-2" }))).toBe("forbidden");
    expect(await codeOf(callForgeService(nc, FORGE_SUBJECTS.runner, { jobId: id, attempt: 2, agentId: "agent-1" }))).toBe("conflict");
    expect(await codeOf(callForgeService(nc, FORGE_SUBJECTS.runner, { jobId: direct.value.id, attempt: 1, agentId: "agent-1" }))).toBe("not_found");
    expect(await codeOf(callForgeService(nc, FORGE_SUBJECTS.runner, { jobId: "gt-tea-404404", attempt: 1, agentId: "agent-1" }))).toBe("not_found");
    expect(await codeOf(callForgeService(nc, FORGE_SUBJECTS.runner, { jobId: 5, attempt: "x" } as never))).toBe("bad_request");
    expect(await codeOf(callForgeService(nc, FORGE_SUBJECTS.remove, { jobId: id, attempt: 1, agentId: "agent-2" }))).toBe("forbidden");
    expect(liveRunners()).toBe(before);
  });

  test("removal at teardown deletes the live runner of that job only", async () => {
    const a = await leasedJob(["nimbus"]);
    const b = await leasedJob(["nimbus"]);
    const ma = await callForgeService<MintedForgeRunner>(nc, FORGE_SUBJECTS.runner, { jobId: a.id, attempt: 1, agentId: "agent-1" });
    const mb = await callForgeService<MintedForgeRunner>(nc, FORGE_SUBJECTS.runner, { jobId: b.id, attempt: 1, agentId: "agent-1" });
    expect(await callForgeService<number>(nc, FORGE_SUBJECTS.remove, { jobId: a.id, attempt: 1, agentId: "agent-1" })).toBe(1);
    expect(sim.model.runners.get(ma.runnerId)!.deleted).toBe(true);
    expect(sim.model.runners.get(mb.runnerId)!.deleted).toBe(false);
    expect(await callForgeService<number>(nc, FORGE_SUBJECTS.remove, { jobId: b.id, attempt: 1, agentId: "agent-1" })).toBe(1);
    expect(sim.model.runners.get(mb.runnerId)!.deleted).toBe(true);
  });
});
