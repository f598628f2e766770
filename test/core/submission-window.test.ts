/**
 * The per-organisation submission window against a real nats-server: replicas share it (together
 * never past the limit), slots are reserved in blocks (a busy organisation costs one KV write per
 * block), a slot that created nothing is refunded, windows roll over, and a changed limit applies.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.ts";
import { SubmissionWindows } from "../../src/jobs/limits/window.ts";
import { startNats, type NatsServer } from "../support/nats.ts";

let nats: NatsServer;
let nc: NatsConnection;
let kv: KV;

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "ratelimit-test" });
  kv = await new Kvm(jetstream(nc)).create("rl_test", { history: 1 });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

/** Counts the KV writes a limiter makes. */
function counted(inner: KV): { kv: KV; writes: () => number } {
  let n = 0;
  const kv = Object.create(inner) as KV;
  kv.create = (k, v) => (n++, inner.create(k, v));
  kv.update = (k, v, r) => (n++, inner.update(k, v, r));
  return { kv, writes: () => n };
}

test("three replicas together never pass the limit; a busy organisation costs one write per block", async () => {
  const now = () => 1_000_000;
  const c = counted(kv);
  const replicas = [new SubmissionWindows(c.kv, now), new SubmissionWindows(c.kv, now), new SubmissionWindows(c.kv, now)];
  const decisions = await Promise.all(Array.from({ length: 1200 }, (_, i) => replicas[i % 3]!.take("busy-org", { submissions: 1000, windowMs: 60_000 })));
  const allowed = decisions.filter((d) => d.allowed).length;
  expect(allowed).toBeLessThanOrEqual(1000);
  expect(allowed).toBeGreaterThanOrEqual(1000 - 3 * 9); // block of 10: each replica may strand up to 9
  expect(decisions.find((d) => !d.allowed)).toMatchObject({ limit: 1000 });
  expect(c.writes()).toBeLessThan(1000 / 10 + 30); // ~one write per block of 10, plus lost races
  expect(Number((await kv.get("busy-org.60000.16"))!.string())).toBeLessThanOrEqual(1000);
});

test("a refunded slot is handed out again, not taken from the window twice", async () => {
  let t = 5_000_000;
  const rl = new SubmissionWindows(kv, () => t);
  const lim = { submissions: 3, windowMs: 60_000 };
  const a = await rl.take("small-org", lim);
  const b = await rl.take("small-org", lim);
  rl.refund(b);
  expect((await rl.take("small-org", lim)).allowed).toBe(true);
  expect((await rl.take("small-org", lim)).allowed).toBe(true);
  expect([a.allowed, b.allowed]).toEqual([true, true]);
  const refused = await rl.take("small-org", lim);
  expect(refused.allowed).toBe(false);
  expect(refused.retryAfterMs).toBeGreaterThan(0);
  t += 60_000; // next window
  expect((await rl.take("small-org", lim)).allowed).toBe(true);
});

test("a raised limit admits more in the same window; admit throws rate_limited with the time to wait", async () => {
  const t = 9_000_000;
  const rl = new SubmissionWindows(kv, () => t);
  await rl.admit("grow-org", { submissions: 1, windowMs: 10_000 });
  const refused = await rl.admit("grow-org", { submissions: 1, windowMs: 10_000 }).catch((e) => e);
  expect(refused).toMatchObject({ code: "rate_limited", details: { limit: 1, retryAfterMs: 10_000 } });
  expect((await rl.admit("grow-org", { submissions: 2, windowMs: 10_000 })).allowed).toBe(true);
});
