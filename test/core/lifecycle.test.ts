/** The lifecycle module against a real nats-server: the fenced write, "stale" as a value, the one retry decision, break-if-held. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, queueSubject, QUEUE_STREAM, type Topology } from "../../src/nats/topology.ts";
import { JobStore, StaleRevision } from "../../src/jobs/store.ts";
import { breakLeaseIf, Lease, LeaseLost, readLease } from "../../src/jobs/lifecycle/lease.ts";
import { casUnleased, fencedWrite, tryTransition } from "../../src/jobs/lifecycle/transition.ts";
import { decideRetry, retryOrFail } from "../../src/jobs/lifecycle/retry.ts";
import { submitJob } from "../../src/jobs/submit.ts";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { isAppError } from "../../src/core/errors.ts";

let nats: NatsServer;
let nc: NatsConnection;
let t: Topology;
let store: JobStore;

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "test" });
  t = await ensureTopology(nc);
  store = new JobStore(t.jobs, t.js);
});
afterAll(async () => {
  await nc.close();
  await nats.stop();
});

const newJob = async (maxAttempts = 2) =>
  (await submitJob({ store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" }, maxAttempts }, parseJobSpec({ command: ["true"] }), { sub: "admin", org: "default" })).job;
const lease = async (jobId: string, agentId = "a", attempt = 1) => (await Lease.acquire(t.leases, { jobId, agentId, attempt, ttlMs: 5000 }))!;

describe("transitions", () => {
  test("tryTransition returns 'stale' when someone else moved the record first, and writes nothing", async () => {
    const job = await newJob();
    const leased = await casUnleased(store, job, "leased", { agentId: "a" });
    expect(await tryTransition(store, job, "cancelled")).toBe("stale");
    expect((await store.get(job.value.id))!.revision).toBe(leased.revision);
  });

  test("fencedWrite renews the lease, then CASes the record", async () => {
    const job = await newJob();
    const l = await lease(job.value.id);
    const before = l.revision;
    const next = await fencedWrite(l, store, job, "leased", { agentId: "a" });
    expect(next).not.toBe("lost");
    expect(l.revision).toBeGreaterThan(before);
    expect((await store.get(job.value.id))!.value.state).toBe("leased");
    await l.release();
  });

  test("fencedWrite is 'lost' once the lease moved, and the record stays as the new owner left it", async () => {
    const job = await newJob();
    const l = await lease(job.value.id);
    expect(await breakLeaseIf(t.leases, job.value.id)).not.toBeNull(); // the sweeper took it
    const other = await lease(job.value.id, "b");
    expect(await fencedWrite(l, store, job, "leased", { agentId: "a" })).toBe("lost");
    expect((await store.get(job.value.id))!.value.state).toBe("queued");
    await other.release();
  });

  test("a stale revision and a lost lease carry distinct codes", async () => {
    const job = await newJob();
    await casUnleased(store, job, "leased");
    let stale: unknown;
    await casUnleased(store, job, "cancelled").catch((e) => (stale = e));
    expect(stale).toBeInstanceOf(StaleRevision);
    expect(isAppError(stale, "stale_revision")).toBe(true);
    const l = await lease(job.value.id);
    await t.leases.delete(job.value.id);
    let lost: unknown;
    await l.renew().catch((e) => (lost = e));
    expect(lost).toBeInstanceOf(LeaseLost);
    expect(isAppError(lost, "lease_lost")).toBe(true);
  });
});

describe("leases", () => {
  test("breakLeaseIf deletes only when the predicate holds of the lease as read", async () => {
    const job = await newJob();
    const l = await lease(job.value.id, "a");
    expect(await breakLeaseIf(t.leases, job.value.id, (x) => x.value.agentId === "b")).toBeNull();
    expect((await readLease(t.leases, job.value.id))!.value.agentId).toBe("a");
    const broken = await breakLeaseIf(t.leases, job.value.id, (x) => x.value.agentId === "a");
    expect(broken!.revision).toBe(l.revision);
    expect(await readLease(t.leases, job.value.id)).toBeNull();
    expect(await breakLeaseIf(t.leases, job.value.id)).toBeNull(); // nothing left to break
  });
});

describe("retry or fail", () => {
  test("the decision: cancel first, then the failure budget, then the attempts", () => {
    expect(decideRetry({ attempt: 1, maxAttempts: 2 }, { reason: "r", cancelled: true })).toEqual({ to: "cancelled", reason: "cancelled (r)" });
    expect(decideRetry({ attempt: 1, maxAttempts: 2 }, { reason: "r" })).toEqual({ to: "queued", reason: "r", attempt: 2 });
    expect(decideRetry({ attempt: 2, maxAttempts: 2 }, { reason: "r" })).toEqual({ to: "failed", reason: "r; 2 attempts used" });
    // A re-queue may record its own reason; the failure keeps why the attempt ended.
    expect(decideRetry({ attempt: 1, maxAttempts: 2 }, { reason: "stuck", requeueReason: "re-driven" })).toMatchObject({ to: "queued", reason: "re-driven" });
    expect(decideRetry({ attempt: 2, maxAttempts: 2 }, { reason: "stuck", requeueReason: "re-driven" })).toMatchObject({ to: "failed", reason: "stuck; 2 attempts used" });
    // GitHub's variant: the budget of runner failures, and an ending that is not a failure.
    const budget = (failures: number) => ({ failures, max: 2, what: "runner failures" });
    expect(decideRetry({ attempt: 1, maxAttempts: 5 }, { reason: "r", budget: budget(3) })).toEqual({ to: "failed", reason: "r; 3 runner failures (budget 2)" });
    expect(decideRetry({ attempt: 1, maxAttempts: 5 }, { reason: "r", budget: budget(2) })).toMatchObject({ to: "queued", attempt: 2 });
    expect(decideRetry({ attempt: 5, maxAttempts: 5 }, { reason: "r", failed: false, budget: budget(0) })).toMatchObject({ to: "queued", attempt: 6 });
  });

  test("a re-queue is attempt + 1 with no agent, and is enqueued; the next one fails the job", async () => {
    let job = await newJob(2);
    job = await casUnleased(store, job, "leased", { agentId: "a" });
    expect(await retryOrFail(store, job, { reason: "agent gone", patch: { exitCode: undefined } })).toBe("requeued");
    const requeued = (await store.get(job.value.id))!;
    expect(requeued.value).toMatchObject({ state: "queued", attempt: 2, reason: "agent gone" });
    expect(requeued.value.agentId).toBeUndefined();
    const last = await t.jsm.streams.getMessage(QUEUE_STREAM, { last_by_subj: queueSubject(job.value.pool) });
    expect(last!.json<{ jobId: string; attempt: number }>()).toEqual({ jobId: job.value.id, attempt: 2 });
    const leased = await casUnleased(store, requeued, "leased", { agentId: "b" });
    expect(await retryOrFail(store, leased, { reason: "agent gone again" })).toBe("failed");
    expect((await store.get(job.value.id))!.value).toMatchObject({ state: "failed", reason: "agent gone again; 2 attempts used" });
    expect(await retryOrFail(store, leased, { reason: "late" })).toBe("stale");
  });

  test("the lease holder's own write is used when given", async () => {
    let job = await newJob(2);
    job = await casUnleased(store, job, "leased", { agentId: "a" });
    const writes: string[] = [];
    const r = await retryOrFail(store, job, { reason: "runner failed", notBefore: 123 }, async (to, patch) => {
      writes.push(to);
      expect(patch).toMatchObject({ attempt: 2, notBefore: 123 });
      return tryTransition(store, job, to, patch);
    });
    expect(r).toBe("requeued");
    expect(writes).toEqual(["queued"]);
  });
});
