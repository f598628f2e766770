/** The admin API behind `nimbus cache ls|usage|rm|env`, and the env a client needs. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cacheEnv, formatShellEnv, mintCacheEnv } from "../../src/protocol/cache-env.ts";
import { verifyRuntimeToken } from "../../src/protocol/cache-token.ts";
import { seededBytes } from "./support/files.ts";
import { rawClient, saveV1 } from "./support/raw.ts";
import { SECRET, startTestCache, type TestCache } from "./support/service.ts";

let cache: TestCache;
let admin: Record<string, string>;
beforeAll(async () => {
  cache = await startTestCache();
  admin = { authorization: `Bearer ${await cache.adminToken()}` };
  await saveV1(cache.url, await cache.token("acme/app", { ref: "refs/heads/main" }, 600, "acme"), "npm-1", "v", seededBytes("1", 1000));
  await saveV1(cache.url, await cache.token("acme/app", { ref: "refs/heads/dev" }, 600, "acme"), "npm-2", "v", seededBytes("2", 2000));
  await saveV1(cache.url, await cache.token("acme/lib", { ref: "refs/heads/main" }, 600, "acme"), "go-1", "v", seededBytes("3", 500));
  await saveV1(cache.url, await cache.token("other/x", { ref: "refs/heads/main" }, 600, "other"), "go-1", "v", seededBytes("4", 100));
});
afterAll(() => cache.cleanup());

const get = async (path: string) => (await fetch(`${cache.url}${path}`, { headers: admin })).json() as Promise<any>;

describe("admin API", () => {
  test("needs a Nimbus token of a non-agent role", async () => {
    expect((await fetch(`${cache.url}/v1/cache/entries`)).status).toBe(401);
    const runtime = await cache.token("acme/app", { ref: "refs/heads/main" });
    expect((await fetch(`${cache.url}/v1/cache/entries`, { headers: { authorization: `Bearer ${runtime}` } })).status).toBe(401);
    const agent = await cache.roleToken("agent", null);
    expect((await fetch(`${cache.url}/v1/cache/entries`, { headers: { authorization: `Bearer ${agent}` } })).status).toBe(403);
  });

  test("ls: entries filtered by repo, org and key prefix", async () => {
    expect((await get("/v1/cache/entries")).entries.length).toBe(4);
    const app = await get("/v1/cache/entries?repo=acme/app");
    expect(app.entries.map((e: any) => [e.key, e.scope, e.size]).sort()).toEqual([["npm-1", "refs/heads/main", 1000], ["npm-2", "refs/heads/dev", 2000]]);
    expect((await get("/v1/cache/entries?org=acme&key=go-")).entries.map((e: any) => e.repo)).toEqual(["acme/lib"]);
  });

  test("usage per repository and per organisation", async () => {
    const byRepo = await get("/v1/cache/usage");
    expect(byRepo.usage).toEqual([{ name: "acme/app", bytes: 3000, entries: 2 }, { name: "acme/lib", bytes: 500, entries: 1 }, { name: "other/x", bytes: 100, entries: 1 }]);
    expect(byRepo.totalBytes).toBe(3600);
    expect((await get("/v1/cache/usage?by=org")).usage).toEqual([{ name: "acme", bytes: 3500, entries: 3 }, { name: "other", bytes: 100, entries: 1 }]);
  });

  test("rm by id and by repo + key prefix", async () => {
    const [one] = (await get("/v1/cache/entries?repo=other/x")).entries;
    const del = await fetch(`${cache.url}/v1/cache/entries/${one.id}`, { method: "DELETE", headers: admin });
    expect(await del.json()).toEqual({ deleted: [one.id] });
    expect((await fetch(`${cache.url}/v1/cache/entries/${one.id}`, { method: "DELETE", headers: admin })).status).toBe(404);
    const bulk = await (await fetch(`${cache.url}/v1/cache/entries?repo=acme/app&key=npm-&org=acme`, { method: "DELETE", headers: admin })).json() as any;
    expect(bulk.deleted.length).toBe(2);
    expect((await fetch(`${cache.url}/v1/cache/entries`, { method: "DELETE", headers: admin })).status).toBe(422);
    expect((await get("/v1/cache/entries")).entries.map((e: any) => e.key)).toEqual(["go-1"]);
  });

  test("status and metrics", async () => {
    expect(await get("/v1/cache/status")).toMatchObject({ storage: "fs", breaker: "closed", healthy: true });
    const m = await (await fetch(`${cache.url}/metrics`)).text();
    expect(m).toContain("nimbus_cache_bytes_in_total 3600");
    expect(m).toMatch(/nimbus_cache_evictions_total\{reason="deleted"\} 3/);
  });

  test("tokens: mint a runtime token for a repository and ref", async () => {
    const r = await fetch(`${cache.url}/v1/cache/tokens`, { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ repo: "Acme/App", ref: "refs/pull/3/merge", baseRef: "refs/heads/dev" }) });
    const body = (await r.json()) as { token: string; scopes: unknown };
    const who = await verifyRuntimeToken(SECRET, body.token);
    expect(who.repo).toBe("acme/app");
    expect(who.org).toBe("default"); // an operator naming no org
    expect(who.scopes.map((s) => s.scope)).toEqual(["refs/pull/3/merge", "refs/heads/dev", "refs/heads/main"]);
  });
});

describe("cache env", () => {
  test("v1 and v2 environments, and shell text", async () => {
    expect(cacheEnv({ url: "http://10.0.0.1:7072", token: "t", protocol: "v1" })).toEqual({ ACTIONS_CACHE_URL: "http://10.0.0.1:7072/", ACTIONS_RUNTIME_TOKEN: "t" });
    expect(cacheEnv({ url: "http://h/", token: "t", protocol: "v2" })).toEqual({ ACTIONS_CACHE_SERVICE_V2: "true", ACTIONS_RESULTS_URL: "http://h/", ACTIONS_RUNTIME_TOKEN: "t" });
    expect(formatShellEnv({ A: "it's" }, ["B"])).toBe("unset B\nexport A='it'\\''s'\n");
  });

  test("mintCacheEnv gives a working environment", async () => {
    const env = await mintCacheEnv({ secret: SECRET, url: cache.url, org: "acme", repo: "acme/lib", ref: "refs/heads/main", protocol: "v1" });
    const r = await rawClient(env.ACTIONS_CACHE_URL!.slice(0, -1), env.ACTIONS_RUNTIME_TOKEN!).lookup(["go-"], "v");
    expect(((await r.json()) as { cacheKey: string }).cacheKey).toBe("go-1");
  });
});
