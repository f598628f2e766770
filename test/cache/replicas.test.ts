/**
 * Two cache replicas, as on two hosts of a fleet: each with its own disk (fs storage) and its own
 * copy of the index, sharing the index in one real nats-server under the cache's own NATS user.
 * What a job saves through one, a job on the other restores byte for byte with the unmodified
 * @actions/cache (the archive streamed from the replica that holds it); an identity is reserved once
 * across both; uploads stay with the replica that took them; eviction decided on one deletes data on
 * the other; and a replica that is down makes its entries misses, not failed jobs.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { authorizationBlock, cachePermissions } from "../../src/nats/permissions.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { waitFor } from "../support/net.ts";
import { actionsEnv, runClient } from "./support/client.ts";
import { removeDir, seededBytes, tempDir, treeDigest, writeTree } from "./support/files.ts";
import { rawClient, saveV1 } from "./support/raw.ts";
import { startTestCache, type TestCache } from "./support/service.ts";

let nats: NatsServer;
let a: TestCache;
let b: TestCache;
let ws: string;
let temp: string;
const MAIN = { ref: "refs/heads/main" };

const replica = (extra: Record<string, string> = {}) =>
  startTestCache({ env: { NIMBUS_NATS_URL: nats.url, NIMBUS_NATS_USER: "cache", NIMBUS_NATS_PASSWORD: "cache-pass", NIMBUS_CACHE_REPO_QUOTA_BYTES: "300000", ...extra } });

beforeAll(async () => {
  nats = await startNats({ extraConfig: authorizationBlock([{ user: "cache", password: "cache-pass", permissions: cachePermissions() }]) });
  [a, b] = await Promise.all([replica(), replica()]);
  ws = tempDir("nimbus-ws-");
  temp = tempDir("nimbus-runner-temp-");
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
  await nats?.stop();
  removeDir(ws);
  removeDir(temp);
});

/** Files of archives on a replica's own disk. */
const onDisk = (c: TestCache) => readdirSync(join(c.dir, "data"), { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).length;

async function client(c: TestCache, op: "save" | "restore", key: string, protocol: "v1" | "v2", restoreKeys: string[] = []) {
  const env = actionsEnv({ protocol, url: c.url, token: await c.token("acme/app", MAIN, 600, "acme"), workspace: ws, temp });
  return runClient(env, { op, paths: ["deps"], key, restoreKeys });
}

for (const protocol of ["v1", "v2"] as const) {
  test(`${protocol}: saved through one replica, restored through the other byte for byte; the archive stays on the first's disk`, async () => {
    rmSync(join(ws, "deps"), { recursive: true, force: true });
    writeTree(ws, "deps", `seed-${protocol}`, 100_000);
    const want = treeDigest(join(ws, "deps"));
    const before = onDisk(b);
    expect(typeof (await client(a, "save", `deps-${protocol}`, protocol)).result).toBe("number");
    rmSync(join(ws, "deps"), { recursive: true, force: true });
    // B learns of the entry through its watch: a restore right after the save may race it.
    await waitFor(() => b.deps.index.list({ org: "acme", key: `deps-${protocol}` }).length === 1, 5_000, "B's copy of the index");
    const r = await client(b, "restore", `deps-${protocol}-new`, protocol, [`deps-${protocol}`]);
    expect(r.result).toBe(`deps-${protocol}`);
    expect(treeDigest(join(ws, "deps"))).toEqual(want);
    expect(onDisk(b)).toBe(before); // streamed from A, not copied
  }, 60_000);
}

test("an identity is reserved once across replicas; an upload's parts go to the replica that took it", async () => {
  const token = await a.token("acme/app", MAIN, 600, "acme");
  const ra = await rawClient(a.url, token).reserve("once", "v1", 4);
  expect(ra.status).toBe(201);
  const { cacheId } = (await ra.json()) as { cacheId: number };
  await waitFor(() => b.deps.index.get(cacheId) !== undefined, 5_000, "B to see the reservation");
  const rb = await rawClient(b.url, token).reserve("once", "v1", 4);
  expect(rb.status).toBe(409);
  const p = await rawClient(b.url, token).patch(cacheId, 0, 3, new Uint8Array([1, 2, 3, 4]));
  expect(p.status).toBe(409);
  expect(await p.text()).toContain(a.deps.entries.self.home);
  // Nothing of it landed on B; A still takes it.
  expect((await rawClient(a.url, token).patch(cacheId, 0, 3, new Uint8Array([1, 2, 3, 4]))).status).toBe(204);
  expect((await rawClient(a.url, token).commit(cacheId, 4)).status).toBe(204);
});

test("hostile input: a forged peer header is never passed on, and a value no replica wrote is left out of every copy", async () => {
  const token = await a.token("acme/app", MAIN, 600, "acme");
  const id = await saveV1(a.url, token, "peer-only", "v1", seededBytes("peer", 1000));
  await waitFor(() => b.deps.index.get(id)?.state === "ready", 5_000, "B to see the entry");
  const hit = await rawClient(b.url, token).lookup(["peer-only"], "v1");
  const { archiveLocation } = (await hit.json()) as { archiveLocation: string };
  // A client claiming to be a replica gets B's own storage only: B does not hold it, so 404, nothing fetched from A.
  const forged = await fetch(archiveLocation, { headers: { "x-nimbus-cache-peer": "1" } });
  expect(forged.status).toBe(404);
  // Without the header the same URL is served, streamed from A.
  expect(Buffer.from(await (await fetch(archiveLocation)).arrayBuffer()).equals(seededBytes("peer", 1000))).toBe(true);
  // A forged or malformed value in the shared bucket (a non-cache writer) never becomes an entry.
  const { decodeEntry } = await import("../../src/cache/shared/record.ts");
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const good = { id: 0, repo: "r", org: "acme", scope: "s", key: "k", version: "v", state: "ready", protocol: "v1", declaredSize: null, size: 1, createdAt: 1, committedAt: 1, lastUsedAt: 1, segments: [{ object: "o", size: 1 }], home: "h", shared: false };
  expect(decodeEntry(enc(good), 7)).toMatchObject({ id: 7 });
  for (const bad of [{ ...good, state: "owned" }, { ...good, size: -1 }, { ...good, segments: [{ object: 1 }] }, { ...good, org: 5 }, [good], null])
    expect(decodeEntry(enc(bad), 7)).toBeNull();
  expect(decodeEntry(new TextEncoder().encode("{not json"), 7)).toBeNull();
});

test("a quota enforced on one replica evicts the other's least recently used entry, whose data its home deletes", async () => {
  const token = await a.token("acme/quota", MAIN, 600, "acme");
  const old = await saveV1(a.url, token, "old", "v1", seededBytes("old", 200_000));
  await waitFor(() => b.deps.index.get(old)?.state === "ready", 5_000, "B to see the entry");
  const filesBefore = onDisk(a);
  // 200 kB + 200 kB is past the 300 kB quota of acme/quota: B's commit evicts A's older entry.
  const fresh = await saveV1(b.url, token, "fresh", "v1", seededBytes("fresh", 200_000));
  await waitFor(() => a.deps.index.get(old) === undefined && b.deps.index.get(old) === undefined, 5_000, "the old entry to leave both copies");
  await waitFor(() => onDisk(a) < filesBefore, 5_000, "A to delete the old archive");
  expect(b.deps.index.get(fresh)?.state).toBe("ready");
  const miss = await rawClient(a.url, token).lookup(["old"], "v1");
  expect(miss.status).toBe(204);
});

test("a replica that is down: its entries are misses on the other, and the job goes on", async () => {
  const token = await a.token("acme/down", MAIN, 600, "acme");
  const id = await saveV1(a.url, token, "held-by-a", "v1", seededBytes("down", 10_000));
  await waitFor(() => b.deps.index.get(id)?.state === "ready", 5_000, "B to see the entry");
  await a.stop();
  // The first lookup hands out a URL to B, whose download fails (A is gone); after that, misses.
  const hit = await rawClient(b.url, token).lookup(["held-by-a"], "v1");
  expect(hit.status).toBe(200);
  const { archiveLocation } = (await hit.json()) as { archiveLocation: string };
  const dl = await fetch(archiveLocation);
  expect(dl.status).toBe(503);
  expect(await dl.text()).toContain("unreachable");
  expect((await rawClient(b.url, token).lookup(["held-by-a"], "v1")).status).toBe(204);
  // Back on its port with its disk and its copy of the index, A serves the entry again.
  const oldDir = a.dir;
  a = await replica({ NIMBUS_CACHE_PORT: new URL(a.url).port, NIMBUS_CACHE_DB: join(oldDir, "index.sqlite"), NIMBUS_CACHE_DIR: join(oldDir, "data") });
  const again = await rawClient(a.url, token).lookup(["held-by-a"], "v1");
  expect(again.status).toBe(200);
  const body = await fetch(((await again.json()) as { archiveLocation: string }).archiveLocation);
  expect(Buffer.from(await body.arrayBuffer()).equals(seededBytes("down", 10_000))).toBe(true);
  rmSync(oldDir, { recursive: true, force: true });
});
