/** The job core against a real nats-server: CAS transitions, lease fencing, the sweeper, idempotent submission. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, queueSubject, QUEUE_STREAM, type Topology } from "../../src/nats/topology.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { JobStore, StaleRevision } from "../../src/jobs/store.ts";
import { Lease, LeaseLost, leaseMirror, type LeaseSeen } from "../../src/jobs/lifecycle/lease.ts";
import { casUnleased } from "../../src/jobs/lifecycle/transition.ts";
import type { KV } from "@nats-io/kv";
import type { KvMirror } from "../../src/nats/kv-mirror.ts";
import { submitJob } from "../../src/jobs/submit.ts";
import { sweepOnce } from "../../src/jobs/sweeper.ts";
import { jobEvents } from "../../src/jobs/events.ts";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { createLogger } from "../../src/core/log.ts";
import { isAppError } from "../../src/core/errors.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { JobIndex } from "../../src/jobs/job-index.ts";
import { waitFor } from "../support/net.ts";

let nats: NatsServer;
let nc: NatsConnection;
let t: Topology;
let store: JobStore;
let leaseView: KvMirror<LeaseSeen>;
const deps = () => ({ store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" as const }, maxAttempts: 2 });
const log = createLogger("test");

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "test" });
  t = await ensureTopology(nc);
  await ensureTopology(nc); // idempotent
  store = new JobStore(t.jobs, t.js);
  leaseView = await leaseMirror(t.leases);
});
afterAll(async () => {
  leaseView.stop();
  await nc.close();
  await nats.stop();
});

async function newJob(extra: Record<string, unknown> = {}) {
  return (await submitJob(deps(), parseJobSpec({ command: ["true"], ...extra }), { sub: "admin", org: "default" })).job;
}

const sweepDeps = (now: number) => ({
  store,
  leases: t.leases,
  leaseView,
  jobs: () => [] as JobRecord[],
  republishAfterMs: 60_000,
  orphanAfterMs: 60_000,
  log,
  now: () => now,
  poolBacklog: async () => 1,
  cancelRequested: async () => false,
});

describe("job store", () => {
  test("each transition is a CAS: a writer with a stale revision loses", async () => {
    const job = await newJob();
    const leased = await casUnleased(store, job, "leased", { agentId: "a" });
    await expect(casUnleased(store, job, "cancelled")).rejects.toBeInstanceOf(StaleRevision);
    expect((await store.get(job.value.id))!.value.state).toBe("leased");
    const booting = await casUnleased(store, leased, "booting");
    const running = await casUnleased(store, booting, "running");
    await expect(casUnleased(store, running, "booting")).rejects.toThrow("cannot go from running to booting");
  });

  test("every transition emits one event, in order", async () => {
    let job = await newJob();
    job = await casUnleased(store, job, "leased", { agentId: "a" });
    job = await casUnleased(store, job, "booting");
    job = await casUnleased(store, job, "running");
    await casUnleased(store, job, "succeeded", { exitCode: 0 });
    const events = [];
    for await (const e of jobEvents(t.js, job.value.id, { follow: false })) events.push(e);
    expect(events.map((e) => e.to)).toEqual(["queued", "leased", "booting", "running", "succeeded"]);
    expect(events.at(-1)!.exitCode).toBe(0);
  });
});

describe("leases", () => {
  test("twenty agents racing for one lease: exactly one wins", async () => {
    const job = await newJob();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => Lease.acquire(t.leases, { jobId: job.value.id, agentId: `agent-${i}`, attempt: 1, ttlMs: 5000 })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    await results.find(Boolean)!.release();
  });

  test("the revision is the fencing token: after the lease moves, the old holder's renew fails", async () => {
    const job = await newJob();
    const lease = (await Lease.acquire(t.leases, { jobId: job.value.id, agentId: "a", attempt: 1, ttlMs: 5000 }))!;
    const r1 = lease.revision;
    expect(await lease.renew()).toBeGreaterThan(r1);
    await t.leases.delete(job.value.id); // the sweeper took it away
    const other = await Lease.acquire(t.leases, { jobId: job.value.id, agentId: "b", attempt: 2, ttlMs: 5000 });
    expect(other).not.toBeNull();
    await expect(lease.renew()).rejects.toBeInstanceOf(LeaseLost);
    await expect(lease.release()).rejects.toBeInstanceOf(LeaseLost);
    await other!.release();
  });
});

/** The sweeper's view of leases follows a watch: wait until it has seen this lease. */
async function seen(jobId: string): Promise<void> {
  const until = Date.now() + 5000;
  const created = (await t.leases.get(jobId))!.created.getTime();
  while (leaseView.get(jobId)?.created !== created) {
    if (Date.now() > until) throw new Error(`the lease view never saw ${jobId}`);
    await Bun.sleep(5);
  }
}

describe("sweeper", () => {
  test("an expired lease re-queues its job with attempt + 1; the next expiry fails it", async () => {
    let job = await newJob();
    await Lease.acquire(t.leases, { jobId: job.value.id, agentId: "dead", attempt: 1, ttlMs: 1000 });
    await seen(job.value.id);
    job = await casUnleased(store, job, "leased", { agentId: "dead" });
    job = await casUnleased(store, job, "booting");
    job = await casUnleased(store, job, "running");
    expect((await sweepOnce(sweepDeps(Date.now()))).expired).toBe(0); // still fresh
    const r = await sweepOnce(sweepDeps(Date.now() + 5000));
    expect(r).toMatchObject({ expired: 1, requeued: 1 });
    const requeued = (await store.get(job.value.id))!;
    expect(requeued.value).toMatchObject({ state: "queued", attempt: 2 });
    expect(requeued.value.reason).toContain("lease expired on agent dead");

    await Lease.acquire(t.leases, { jobId: job.value.id, agentId: "dead2", attempt: 2, ttlMs: 1000 });
    await seen(job.value.id);
    await casUnleased(store, requeued, "leased", { agentId: "dead2" });
    const r2 = await sweepOnce(sweepDeps(Date.now() + 5000));
    expect(r2).toMatchObject({ expired: 1, failed: 1 });
    const failed = (await store.get(job.value.id))!.value;
    expect(failed.state).toBe("failed");
    expect(failed.reason).toContain("2 attempts used");
  });

  test("a queued job whose queue message was lost is published again (only when its pool's queue is empty)", async () => {
    const parsed = parseJobSpec({ command: ["true"], labels: ["nimbus", "nimbus-16vcpu-64gb"] });
    const now = Date.now();
    // The record exists but the publish never happened (a control plane died in between).
    const job = await store.create({
      id: `j-lost-${now}`, source: "direct", org: "default", command: parsed.command, env: {}, secrets: [], labels: parsed.labels,
      requirements: parseLabels(parsed.labels), pool: "x64.sandbox.16c64g", timeoutSeconds: 60, state: "queued", attempt: 1,
      maxAttempts: 2, createdAt: now, updatedAt: now, times: { queued: now },
    });
    const backlog = async (pool: string) => {
      const info = await t.jsm.streams.info(QUEUE_STREAM, { subjects_filter: queueSubject(pool) });
      return info.state.subjects?.[queueSubject(pool)] ?? 0;
    };
    const deps = { ...sweepDeps(now + 120_000), jobs: () => [job.value], poolBacklog: backlog };
    expect((await sweepOnce(deps)).republished).toBe(1);
    expect(await backlog(job.value.pool)).toBe(1);
    expect((await sweepOnce(deps)).republished).toBe(0); // its message is waiting now
  });

  test("a lease renewed after the sweeper read it is not expired (CAS on delete)", async () => {
    const job = await newJob();
    const lease = (await Lease.acquire(t.leases, { jobId: job.value.id, agentId: "a", attempt: 1, ttlMs: 1000 }))!;
    await seen(job.value.id);
    await casUnleased(store, job, "leased", { agentId: "a" });
    // The holder renews right after the sweeper has read the (expired-looking) lease, before it deletes.
    let renewed = 0;
    const leases = new Proxy(t.leases, {
      get(target, prop) {
        if (prop === "get")
          return async (key: string) => {
            const entry = await target.get(key);
            if (key === job.value.id && renewed++ === 0) await lease.renew();
            return entry;
          };
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as KV;
    const r = await sweepOnce({ ...sweepDeps(Date.now() + 5000), leases });
    expect(renewed).toBe(1); // the sweeper did read this lease
    expect(r).toMatchObject({ expired: 0, requeued: 0, failed: 0 });
    expect((await store.get(job.value.id))!.value).toMatchObject({ state: "leased", attempt: 1 });
    await lease.renew(); // still held: the renewed revision was not deleted
    await lease.release();
  });
});

describe("read model", () => {
  test("the job index follows the bucket and skips values that are not job records", async () => {
    const index = await JobIndex.start(t.jobs);
    await t.jobs.put("not-a-job", new TextEncoder().encode("\u0000garbage"));
    const job = await newJob();
    await waitFor(() => index.get(job.value.id)?.state === "queued", 2000, "index to see the job");
    expect(index.get("not-a-job")).toBeUndefined();
    await casUnleased(store, job, "cancelled");
    await waitFor(() => index.get(job.value.id)?.state === "cancelled", 2000, "index to see the transition");
    await t.jobs.delete("not-a-job");
    index.stop();
  });
});

describe("submission", () => {
  test("the same idempotency key twice gives one job; a different spec under it is a conflict", async () => {
    const a = await submitJob(deps(), parseJobSpec({ command: ["echo", "1"], idempotencyKey: "deploy-42" }), { sub: "admin", org: "default" });
    const b = await submitJob(deps(), parseJobSpec({ command: ["echo", "1"], idempotencyKey: "deploy-42" }), { sub: "admin", org: "default" });
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.job.value.id).toBe(a.job.value.id);
    let err: unknown;
    try {
      await submitJob(deps(), parseJobSpec({ command: ["echo", "2"], idempotencyKey: "deploy-42" }), { sub: "admin", org: "default" });
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, "conflict")).toBe(true);
    // Another subject's key is its own namespace.
    const c = await submitJob(deps(), parseJobSpec({ command: ["echo", "1"], idempotencyKey: "deploy-42" }), { sub: "someone-else", org: "default" });
    expect(c.job.value.id).not.toBe(a.job.value.id);
  });

  test("the job carries the submitter's org, its events too; the same subject and key in another org is another job", async () => {
    const a = await submitJob(deps(), parseJobSpec({ command: ["echo", "1"], idempotencyKey: "org-key" }), { sub: "ci", org: "acme" });
    const b = await submitJob(deps(), parseJobSpec({ command: ["echo", "1"], idempotencyKey: "org-key" }), { sub: "ci", org: "globex" });
    expect(a.job.value.org).toBe("acme");
    expect(b.created).toBe(true);
    expect(b.job.value.org).toBe("globex");
    expect(b.job.value.id).not.toBe(a.job.value.id);
    expect((await store.get(b.job.value.id))!.value.org).toBe("globex");
    const events = [];
    for await (const e of jobEvents(t.js, a.job.value.id, { follow: false })) events.push(e);
    expect(events.map((e) => e.org)).toEqual(["acme"]);
  });
});
