/**
 * Which errors a lost compare-and-set raises against the real nats-server (2.9): each one carries
 * its JetStream API code, so they are classified by code and never by message text.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology } from "../../src/nats/topology.ts";
import { isWrongLastSequence, unlessCasLost } from "../../src/nats/errors.ts";

let nats: NatsServer;
let nc: NatsConnection;
let kv: KV;
const enc = new TextEncoder();

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "test" });
  kv = (await ensureTopology(nc)).leases;
});
afterAll(async () => {
  await nc.close();
  await nats.stop();
});

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("the operation did not fail");
}

test("every lost CAS arrives as a JetStream API error with code 10071", async () => {
  const rev = await kv.create("k", enc.encode("a"));
  const lost = [
    await errorOf(kv.create("k", enc.encode("b"))), // create on an existing key
    await errorOf(kv.update("k", enc.encode("b"), rev + 7)), // update with a wrong revision
    await errorOf(kv.update("missing", enc.encode("b"), 3)), // update of a key that does not exist
    await errorOf(kv.delete("k", { previousSeq: rev + 7 })), // delete with a wrong previousSeq
  ];
  for (const e of lost) {
    expect(e).toBeInstanceOf(JetStreamApiError);
    expect((e as JetStreamApiError).code).toBe(10071);
    expect(isWrongLastSequence(e)).toBe(true);
  }
  expect((await kv.get("k"))!.revision).toBe(rev); // none of them wrote
});

test("classification is by code only: message text that looks alike is not a lost CAS", () => {
  expect(isWrongLastSequence(new Error("wrong last sequence: 5"))).toBe(false);
});

test("unlessCasLost: the value when the CAS wins, null when it loses, other errors thrown", async () => {
  const rev = await kv.create("u", enc.encode("a"));
  expect(await unlessCasLost(kv.update("u", enc.encode("b"), rev))).toBeGreaterThan(rev);
  expect(await unlessCasLost(kv.update("u", enc.encode("c"), rev))).toBeNull();
  await expect(unlessCasLost(Promise.reject(new Error("boom")))).rejects.toThrow("boom");
});
