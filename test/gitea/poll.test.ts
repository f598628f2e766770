/**
 * The forges' polling backstop (issue #16 parts 3 and 5), on a real control plane and nats-server:
 * jobs whose webhooks were dropped are found in the forge's waiting-job listing and created once;
 * a late webhook for such a job changes nothing; a forge answering 5xx is backed off (its calls
 * counted) and polled again once it recovers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningControlPlane } from "../../src/control/server.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { testControlPlane } from "../support/control.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { recordedToken } from "../support/tokens.ts";
import { waitFor } from "../support/net.ts";
import { startGiteaSim, type GiteaSim } from "../gitea-sim/sim.ts";

const SECRET = "gitea-poll-auth-secret-0123456789abcdef";
const HOOK = "tea-poll-webhook-secret-0123456789";
const INTERVAL = 200;
let nats: NatsServer;
let control: RunningControlPlane;
let tea: GiteaSim;
let down: GiteaSim;
let op: string;

beforeAll(async () => {
  nats = await startNats();
  tea = await startGiteaSim({ kind: "gitea", webhookSecret: HOOK });
  down = await startGiteaSim({ kind: "forgejo", webhookSecret: HOOK });
  down.rest.fail5xx = 1_000_000;
  const forges = [
    { id: "tea", kind: "gitea", url: tea.url, token: tea.rest.apiToken, webhookSecret: HOOK, org: "acme", runnerScope: "org:acme" },
    { id: "down", kind: "forgejo", url: down.url, token: down.rest.apiToken, webhookSecret: HOOK, org: "globex" },
  ];
  control = await testControlPlane({ natsUrl: nats.url, authSecret: SECRET, webhookSecret: "github-hook-secret-0123456789", env: { NIMBUS_FORGES: JSON.stringify(forges), NIMBUS_FORGE_POLL_INTERVAL_MS: String(INTERVAL) } });
  tea.hooks.target = `${control.url}/webhooks/forge/tea`;
  op = await recordedToken(nats.url, SECRET, { sub: "op", role: "operator", ttlSeconds: 600 });
}, 30_000);
afterAll(async () => {
  await tea?.stop();
  await down?.stop();
  await control?.stop();
  await nats?.stop();
});

async function job(id: string): Promise<JobRecord | undefined> {
  const r = await fetch(`${control.url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${op}` } });
  return r.status === 200 ? ((await r.json()) as { job: JobRecord }).job : undefined;
}

describe("lost webhooks", () => {
  test("every dropped delivery's job is created by the poll, once, in the connection's scope only", async () => {
    tea.hooks.faults.drop = 1;
    const jobs = [1, 2, 3].map(() => tea.model.addJob({ repo: "acme/app", labels: ["nimbus"] }));
    const foreign = tea.model.addJob({ repo: "other-org/app", labels: ["nimbus"] }); // outside org:acme
    const notOurs = tea.model.addJob({ repo: "acme/app", labels: ["ubuntu-latest"] });
    tea.hooks.faults.drop = 0;
    expect(tea.hooks.counts.dropped).toBe(5);
    for (const j of jobs) {
      await waitFor(async () => (await job(`gt-tea-${j.id}`)) !== undefined, 10_000, `job ${j.id} polled`);
      expect(await job(`gt-tea-${j.id}`)).toMatchObject({ state: "queued", org: "acme", forge: { via: "poll", repo: "acme/app" } });
    }
    expect(await job(`gt-tea-${foreign.id}`)).toBeUndefined();
    expect(await job(`gt-tea-${notOurs.id}`)).toBeUndefined();
    expect(tea.rest.calls.every((c) => c.path === "/api/v1/orgs/acme/actions/jobs" || c.path === "/api/v1/orgs/acme/actions/runners")).toBe(true);
  });

  test("a delayed webhook arriving after the poll created its job: 200 exists, still one job", async () => {
    tea.hooks.faults.drop = 1;
    const j = tea.model.addJob({ repo: "acme/late", labels: ["nimbus"] });
    tea.hooks.faults.drop = 0;
    await waitFor(async () => (await job(`gt-tea-${j.id}`)) !== undefined, 10_000, "polled");
    tea.hooks.emit(j, "queued");
    await tea.hooks.settle();
    expect(tea.hooks.sent.filter((s) => s.jobId === j.id).map((s) => s.status)).toEqual([200]);
    const all = (await (await fetch(`${control.url}/api/jobs?limit=10000`, { headers: { authorization: `Bearer ${op}` } })).json()) as { jobs: JobRecord[] };
    expect(all.jobs.filter((x) => x.id === `gt-tea-${j.id}`)).toHaveLength(1);
  });
});

describe("leftover runners", () => {
  test("the poll deletes Nimbus runners of jobs that are gone, ended or past their attempt; others' runners stay", async () => {
    tea.hooks.faults.drop = 1;
    const live = tea.model.addJob({ repo: "acme/app", labels: ["nimbus"] });
    const ended = tea.model.addJob({ repo: "acme/app", labels: ["nimbus"] });
    tea.hooks.faults.drop = 0;
    for (const j of [live, ended]) await waitFor(async () => (await job(`gt-tea-${j.id}`)) !== undefined, 10_000, "polled");
    const cur = (await control.ctx.store.get(`gt-tea-${ended.id}`))!;
    await control.ctx.store.transition(cur, "cancelled", { reason: "test" });
    const token = tea.model.registrationToken({ level: "org", org: "acme" });
    const reg = (name: string) => tea.model.register({ name, token, labels: ["nimbus:host"], ephemeral: true, version: "t" })!;
    const keep = [reg(`nimbus-gt-tea-${live.id}-1`), reg("someone-elses-runner"), reg("nimbus-gt-other-5-1")];
    const drop = [reg("nimbus-gt-tea-999999-1"), reg(`nimbus-gt-tea-${ended.id}-1`)];
    await waitFor(() => drop.every((r) => r.deleted), 10_000, "leftover runners deleted");
    expect(keep.map((r) => r.deleted)).toEqual([false, false, false]);
    expect(control.ctx.forges!.poll!.state.get("tea")!.removed).toBeGreaterThanOrEqual(2);
  });
});

describe("a forge answering 5xx", () => {
  test("is backed off, not hammered: over 3 s at most a handful of calls, where polling every 200 ms would make 15", async () => {
    const start = down.rest.calls.length;
    await Bun.sleep(3_000);
    const calls = down.rest.calls.slice(start);
    expect(calls.every((c) => c.status === 503)).toBe(true);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(5);
    const st = control.ctx.forges!.poll!.state.get("down")!;
    expect(st.failures).toBeGreaterThanOrEqual(3);
    // Meanwhile the healthy forge is polled at its own interval.
    expect(control.ctx.forges!.poll!.state.get("tea")!.failures).toBe(0);
  }, 10_000);

  test("once it recovers, the next poll (within the capped backoff) creates its waiting job", async () => {
    const j = down.model.addJob({ repo: "globex/web", labels: ["nimbus"] });
    down.rest.fail5xx = 0;
    await waitFor(async () => (await job(`gt-down-${j.id}`)) !== undefined, 15_000, "polled after recovery");
    expect(await job(`gt-down-${j.id}`)).toMatchObject({ source: "forgejo", org: "globex", forge: { via: "poll" } });
    expect(control.ctx.forges!.poll!.state.get("down")!.failures).toBe(0);
    const text = await (await fetch(`${control.url}/metrics`)).text();
    expect(text).toMatch(/nimbus_forge_polls_total\{forge="down",kind="forgejo",result="error"\} [3-9]/);
  }, 20_000);
});
