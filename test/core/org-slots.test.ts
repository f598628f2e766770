/**
 * Per-org running slots and limit overrides against a real nats-server: agents racing for an org's
 * last slot never exceed the limit, a later attempt's slot survives an older attempt's release, a
 * slot whose lease was lost is pruned by the sweeper and taken again, overrides change by CAS.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, type Topology } from "../../src/nats/topology.ts";
import { acquireSlot, pruneSlots, releaseSlot, slotHolders } from "../../src/jobs/lifecycle/slots.ts";
import { breakLeaseIf, Lease, leaseMirror, readLease } from "../../src/jobs/lifecycle/lease.ts";
import { sweepOnce } from "../../src/jobs/sweeper.ts";
import { JobStore } from "../../src/jobs/store.ts";
import { createLogger } from "../../src/core/log.ts";
import { LimitsStore } from "../../src/jobs/limits/store.ts";
import { parseLimitsPatch } from "../../src/jobs/limits/values.ts";
import { waitFor } from "../support/net.ts";

let nats: NatsServer;
const conns: NatsConnection[] = [];
let a: Topology;
let b: Topology;

beforeAll(async () => {
  nats = await startNats();
  for (const name of ["agent-a", "agent-b"]) conns.push(await connectNats({ url: nats.url, name }));
  a = await ensureTopology(conns[0]!);
  b = await ensureTopology(conns[1]!);
});
afterAll(async () => {
  for (const c of conns) await c.close();
  await nats.stop();
});

test("two agents racing for an org's last slots: exactly the limit win, others' orgs are apart", async () => {
  const tries = Array.from({ length: 20 }, (_, i) => acquireSlot(i % 2 ? a.slots : b.slots, "race-org", `j-${i}`, 1, 3));
  const won = (await Promise.all(tries)).filter(Boolean).length;
  expect(won).toBe(3);
  expect(Object.keys(await slotHolders(a.slots, "race-org"))).toHaveLength(3);
  expect(await acquireSlot(a.slots, "other-org", "j-x", 1, 1)).toBe(true); // another org's slots are its own
  const holder = Object.keys(await slotHolders(a.slots, "race-org"))[0]!;
  expect(await acquireSlot(b.slots, "race-org", holder, 1, 3)).toBe(true); // holding it already counts
  await releaseSlot(b.slots, "race-org", holder, 1);
  expect(await acquireSlot(a.slots, "race-org", "j-late", 1, 3)).toBe(true); // the freed slot is taken again
  expect(await acquireSlot(a.slots, "race-org", "j-later", 1, 3)).toBe(false);
});

test("an older attempt's release leaves the next attempt's slot alone", async () => {
  expect(await acquireSlot(a.slots, "retry-org", "j-r", 1, 1)).toBe(true);
  expect(await acquireSlot(b.slots, "retry-org", "j-r", 2, 1)).toBe(true); // the job came back as attempt 2
  await releaseSlot(a.slots, "retry-org", "j-r", 1);
  expect(await slotHolders(a.slots, "retry-org")).toMatchObject({ "j-r": { attempt: 2 } });
});

test("a slot whose lease was lost comes back: the sweeper prunes it, another agent takes it", async () => {
  const holdsLease = async (id: string, attempt: number) => (await readLease(a.leases, id))?.value.attempt === attempt;
  await pruneSlots(a.slots, holdsLease, 0, Date.now() + 1000); // the earlier tests' slots held no lease: clear them
  const lease = (await Lease.acquire(a.leases, { jobId: "j-lost", agentId: "agent-a", attempt: 1, ttlMs: 60_000 }))!;
  expect(await acquireSlot(a.slots, "lost-org", "j-lost", 1, 1)).toBe(true);
  const live = (await Lease.acquire(a.leases, { jobId: "j-live", agentId: "agent-a", attempt: 1, ttlMs: 60_000 }))!;
  expect(await acquireSlot(a.slots, "live-org", "j-live", 1, 1)).toBe(true);
  const later = Date.now() + 10_000;
  expect(await pruneSlots(a.slots, holdsLease, 5_000, later)).toBe(0); // both leases held: nothing pruned
  expect(await acquireSlot(b.slots, "lost-org", "j-next", 1, 1)).toBe(false);

  expect(await breakLeaseIf(a.leases, "j-lost")).not.toBeNull(); // agent-a died; its lease is broken
  expect(await pruneSlots(a.slots, holdsLease, 60_000, later)).toBe(0); // within the grace a slot waits for its lease
  const view = await leaseMirror(a.leases);
  const result = await sweepOnce({
    store: new JobStore(a.jobs, a.js),
    leases: a.leases,
    leaseView: view,
    jobs: () => [],
    republishAfterMs: 60_000,
    orphanAfterMs: 60_000,
    log: createLogger("test"),
    now: () => later,
    poolBacklog: async () => 1,
    cancelRequested: async () => false,
    pruneSlots: () => pruneSlots(a.slots, holdsLease, 5_000, later),
  });
  view.stop();
  expect(result.slotsPruned).toBe(1);
  expect(await acquireSlot(b.slots, "lost-org", "j-next", 1, 1)).toBe(true);
  expect(await slotHolders(a.slots, "live-org")).toHaveProperty("j-live"); // a held lease keeps its slot
  await live.release();
  await lease.release().catch(() => {});
});

test("limit overrides: defaults until set, fields changed one at a time, null returns to the default", async () => {
  const defaults = { running: 0, submissions: 1000, windowMs: 60_000, cacheBytes: 0, registryBytes: 0 };
  const s1 = await LimitsStore.open(a.limits, defaults);
  const s2 = await LimitsStore.open(b.limits, defaults);
  expect(s1.for("acme")).toEqual(defaults);
  await Promise.all([s1.set("acme", parseLimitsPatch({ running: 2 })), s2.set("acme", parseLimitsPatch({ submissions: 5 }))]); // two operators at once
  expect((await s1.read("acme")).override).toEqual({ running: 2, submissions: 5 });
  await waitFor(async () => s2.for("acme").running === 2, 5000, "the mirror sees the override");
  await s2.set("acme", parseLimitsPatch({ running: null, registryBytes: 1 << 30 }));
  expect((await s1.read("acme")).limits).toEqual({ ...defaults, submissions: 5, registryBytes: 1 << 30 });
  expect(() => parseLimitsPatch({ runing: 1 })).toThrow(/runing: not a limit/);
  expect(() => parseLimitsPatch({ running: -1 })).toThrow(/running: must be a whole number/);
  expect(() => parseLimitsPatch({})).toThrow(/name at least one/);
  await expect(s1.set("Not An Org", parseLimitsPatch({ running: 1 }))).rejects.toMatchObject({ code: "validation_failed" });
  s1.stop();
  s2.stop();
});
