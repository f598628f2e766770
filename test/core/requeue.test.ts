/** Re-queueing through the control plane (src/jobs/requeue.ts), against a real nats-server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, queueSubject, QUEUE_STREAM, type Topology } from "../../src/nats/topology.ts";
import { JobStore } from "../../src/jobs/store.ts";
import { casUnleased } from "../../src/jobs/lifecycle/transition.ts";
import { retryOrFail } from "../../src/jobs/lifecycle/retry.ts";
import { submitJob } from "../../src/jobs/submit.ts";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { requestRequeue } from "../../src/jobs/requeue.ts";
import { startRequeueService } from "../../src/control/requeue.ts";
import { createLogger } from "../../src/core/log.ts";
import { isAppError } from "../../src/core/errors.ts";

let nats: NatsServer;
let nc: NatsConnection;
let agentNc: NatsConnection;
let t: Topology;
let store: JobStore;
let agentStore: JobStore;
let service: { stop(): void };

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "control" });
  agentNc = await connectNats({ url: nats.url, name: "agent", inboxPrefix: "_INBOX.agent.a1" });
  t = await ensureTopology(nc);
  store = new JobStore(t.jobs, t.js);
  service = startRequeueService({ nc, store, log: createLogger("test") });
  // The agent's store: its enqueue asks the control plane.
  agentStore = new JobStore(t.jobs, t.js, undefined, undefined, undefined, (job) => requestRequeue(agentNc, job));
});
afterAll(async () => {
  service.stop();
  await agentNc.close();
  await nc.close();
  await nats.stop();
});

const queued = async (pool: string, jobId: string) => {
  const info = await t.jsm.streams.info(QUEUE_STREAM, { subjects_filter: queueSubject(pool) });
  const n = info.state.subjects?.[queueSubject(pool)] ?? 0;
  if (!n) return [];
  const m = await t.jsm.streams.getMessage(QUEUE_STREAM, { last_by_subj: queueSubject(pool) });
  return [m!.json<{ jobId: string; attempt: number }>()].filter((x) => x.jobId === jobId);
};

describe("requeue through the control plane", () => {
  test("an agent's retry moves the record to queued at attempt + 1 and the control plane publishes that attempt", async () => {
    const job = (await submitJob({ store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" }, maxAttempts: 3 }, parseJobSpec({ command: ["true"] }), { sub: "admin", org: "default" })).job;
    const leased = await casUnleased(store, job, "leased", { agentId: "a1" });
    expect(await retryOrFail(agentStore, leased, { reason: "agent restarted" })).toBe("requeued");
    expect((await store.get(job.value.id))!.value).toMatchObject({ state: "queued", attempt: 2 });
    expect(await queued(job.value.pool, job.value.id)).toEqual([{ jobId: job.value.id, attempt: 2 }]);
  });

  test("a job that is not queued at that attempt is refused (conflict) and nothing is published", async () => {
    const job = (await submitJob({ store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" }, maxAttempts: 3 }, parseJobSpec({ command: ["true"] }), { sub: "admin", org: "default" })).job;
    const before = (await t.jsm.streams.info(QUEUE_STREAM)).state.last_seq;
    let err: unknown;
    await requestRequeue(agentNc, { id: job.value.id, attempt: 5 }).catch((e) => (err = e));
    expect(isAppError(err, "conflict")).toBe(true);
    const leased = await casUnleased(store, job, "leased", { agentId: "a1" });
    err = undefined;
    await requestRequeue(agentNc, { id: leased.value.id, attempt: leased.value.attempt }).catch((e) => (err = e));
    expect(isAppError(err, "conflict")).toBe(true);
    err = undefined;
    await requestRequeue(agentNc, { id: "no-such-job", attempt: 1 }).catch((e) => (err = e));
    expect(isAppError(err, "not_found")).toBe(true);
    expect((await t.jsm.streams.info(QUEUE_STREAM)).state.last_seq).toBe(before);
  });
});
