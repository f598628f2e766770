/**
 * S3 outage: with the backend stopped, the unmodified client's save is skipped with a warning and
 * its restore is a miss that the service answered (its miss counter moves; the client logs no
 * failure), so neither waits on the dead backend; the breaker opens, and closes by itself once the
 * backend is back, after which saving and restoring work again. How long a client takes during the
 * outage is a matter for scripts/bench/, not a bound here.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { waitFor } from "../support/net.ts";
import { actionsEnv, runClient, type Protocol } from "./support/client.ts";
import { removeDir, tempDir, treeDigest, writeTree } from "./support/files.ts";
import { startS3, type S3Server } from "./support/s3.ts";
import { startTestCache, type TestCache } from "./support/service.ts";

let s3: S3Server;
let cache: TestCache;
let ws: string;
let temp: string;

beforeAll(async () => {
  s3 = await startS3();
  cache = await startTestCache({ s3, env: { NIMBUS_CACHE_BREAKER_COOLDOWN_MS: "300", NIMBUS_CACHE_BREAKER_FAILURES: "2" } });
  ws = tempDir("nimbus-ws-");
  temp = tempDir("nimbus-runner-temp-");
  writeTree(ws, "deps", "outage");
});
afterAll(async () => {
  await cache.cleanup();
  await s3.cleanup();
  removeDir(ws);
  removeDir(temp);
});

async function client(protocol: Protocol, op: "save" | "restore", key: string) {
  const env = actionsEnv({ protocol, url: cache.url, token: await cache.token("acme/app", { ref: "refs/heads/main" }), workspace: ws, temp });
  if (op === "restore") rmSync(join(ws, "deps"), { recursive: true, force: true });
  const r = await runClient(env, { op, paths: ["deps"], key });
  if (op === "restore" && !r.result) writeTree(ws, "deps", "outage");
  return r;
}

async function status(): Promise<{ breaker: string }> {
  const r = await fetch(`${cache.url}/v1/cache/status`, { headers: { authorization: `Bearer ${await cache.adminToken()}` } });
  return (await r.json()) as { breaker: string };
}

async function misses(protocol: Protocol): Promise<number> {
  const m = (await (await fetch(`${cache.url}/metrics`)).text()).match(new RegExp(`nimbus_cache_misses_total\\{protocol="${protocol}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
}

test("S3 down: saves skipped, restores answered as misses by the service; the breaker opens, then closes when S3 is back", async () => {
  const before = treeDigest(join(ws, "deps"));
  expect(typeof (await client("v2", "save", "before-outage")).result).toBe("number");

  await s3.stop();
  await Bun.sleep(1100); // let the last successful storage check go stale
  for (const protocol of ["v1", "v2"] as const) {
    const save = await client(protocol, "save", `during-${protocol}`);
    expect(save.result).toBe(-1);
    expect(save.log).toContain("cache write denied: cache storage is unavailable");
    const missed = await misses(protocol);
    const restore = await client(protocol, "restore", "before-outage");
    expect(restore.result).toBeNull();
    expect(await misses(protocol)).toBe(missed + 1);
    expect(restore.log).not.toContain("Failed to restore");
  }
  expect((await status()).breaker).toBe("open");
  const metrics = await (await fetch(`${cache.url}/metrics`)).text();
  expect(metrics).toMatch(/nimbus_cache_breaker_state 2/);
  expect(metrics).toMatch(/nimbus_cache_saves_skipped_total\{protocol="v1"\} 1/);

  await s3.start();
  await waitFor(async () => (await status()).breaker === "closed", 5000, "the breaker to close");
  const restore = await client("v1", "restore", "before-outage");
  expect(restore.result).toBe("before-outage");
  expect(treeDigest(join(ws, "deps"))).toEqual(before);
  expect(typeof (await client("v2", "save", "after-outage")).result).toBe("number");
}, 60_000);
