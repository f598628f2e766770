/**
 * Issue #11 for the cache service (the real service, over HTTP): entries belong to the org the
 * job's runtime token names; the same repository name in two orgs shares nothing; the admin API
 * filters by the caller's org and a denied call changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { verifyRuntimeToken } from "../../src/protocol/cache-token.ts";
import { seededBytes } from "./support/files.ts";
import { rawClient, saveV1 } from "./support/raw.ts";
import { SECRET, startTestCache, type TestCache } from "./support/service.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureLimitsBucket } from "../../src/nats/topology.ts";

let cache: TestCache;
let acmeId: number;
let globexId: number;
const main = { ref: "refs/heads/main" };

beforeAll(async () => {
  cache = await startTestCache();
  acmeId = await saveV1(cache.url, await cache.token("shared/app", main, 600, "acme"), "deps-1", "v", seededBytes("acme", 300));
  globexId = await saveV1(cache.url, await cache.token("shared/app", main, 600, "globex"), "deps-1", "v", seededBytes("globex", 700));
  await saveV1(cache.url, await cache.token("globex/only", main, 600, "globex"), "only-1", "v", seededBytes("g2", 50));
});
afterAll(() => cache.cleanup());

async function call(path: string, token: string, init: RequestInit = {}) {
  const res = await fetch(`${cache.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
/** Every entry, as an operator sees them: what a denied call must leave alone. */
const all = async () => (await call("/v1/cache/entries", await cache.adminToken())).body.entries.map((e: any) => `${e.org}:${e.repo}:${e.key}:${e.size}`).sort();

describe("the same repository name in two orgs", () => {
  test("a job's lookups see its own org's entries only (v1 and v2)", async () => {
    const acme = rawClient(cache.url, await cache.token("shared/app", main, 600, "acme"));
    const hit = (await (await acme.lookup(["deps-"], "v")).json()) as { cacheKey: string; archiveLocation: string };
    expect(hit.cacheKey).toBe("deps-1");
    expect((await fetch(hit.archiveLocation)).headers.get("content-length")).toBe("300"); // acme's archive, not globex's 700 bytes
    const other = rawClient(cache.url, await cache.token("shared/app", main, 600, "initech"));
    expect((await other.lookup(["deps-1"], "v")).status).toBe(204);
    expect(await (await other.twirp("GetCacheEntryDownloadURL", { key: "deps-1", version: "v" })).json()).toEqual({ ok: false });
  });

  test("another org cannot write into or commit an upload it did not reserve", async () => {
    const before = await all();
    const acme = rawClient(cache.url, await cache.token("shared/app", main, 600, "acme"));
    const r = await acme.reserve("half", "v", 4);
    const { cacheId } = (await r.json()) as { cacheId: number };
    const globex = rawClient(cache.url, await cache.token("shared/app", main, 600, "globex"));
    expect((await globex.patch(cacheId, 0, 3, new Uint8Array(4))).status).toBe(404);
    expect((await globex.commit(cacheId, 4)).status).toBe(404);
    expect((await call(`/v1/cache/entries?state=uploading&org=acme`, await cache.adminToken())).body.entries.map((e: any) => e.id)).toEqual([cacheId]);
    await call(`/v1/cache/entries/${cacheId}`, await cache.adminToken(), { method: "DELETE" });
    expect(await all()).toEqual(before);
  });
});

describe("admin API by org", () => {
  test("list and usage: a member or viewer sees its org only; an operator every org or the one it asks for", async () => {
    for (const role of ["member", "viewer", "org-admin"] as const) {
      const token = await cache.roleToken(role, "acme");
      const list = await call("/v1/cache/entries", token);
      expect(list.body.entries.map((e: any) => [e.org, e.repo, e.key])).toEqual([["acme", "shared/app", "deps-1"]]);
      expect((await call("/v1/cache/entries?repo=globex/only", token)).body.entries).toEqual([]);
      expect((await call("/v1/cache/entries?org=globex", token)).status).toBe(403);
      const usage = await call("/v1/cache/usage?by=org", token);
      expect(usage.body).toEqual({ by: "org", usage: [{ name: "acme", bytes: 300, entries: 1 }], totalBytes: 300 });
      expect((await call("/v1/cache/usage", token)).body.usage).toEqual([{ name: "shared/app", bytes: 300, entries: 1 }]);
    }
    const op = await cache.adminToken();
    expect((await call("/v1/cache/entries", op)).body.entries.length).toBe(3);
    expect((await call("/v1/cache/entries?org=globex", op)).body.entries.map((e: any) => e.repo).sort()).toEqual(["globex/only", "shared/app"]);
    // Per repo, the two orgs' shared/app are counted apart.
    expect((await call("/v1/cache/usage", op)).body.usage).toEqual([
      { name: "shared/app", bytes: 700, entries: 1 }, { name: "shared/app", bytes: 300, entries: 1 }, { name: "globex/only", bytes: 50, entries: 1 },
    ]);
  });

  test("remove: another org's entry is a 404, a member or viewer may not remove (403), and nothing changes", async () => {
    const before = await all();
    const acmeAdmin = await cache.roleToken("org-admin", "acme");
    expect((await call(`/v1/cache/entries/${globexId}`, acmeAdmin, { method: "DELETE" })).status).toBe(404);
    expect((await call(`/v1/cache/entries/999999`, acmeAdmin, { method: "DELETE" })).status).toBe(404); // the same answer as for none
    for (const role of ["member", "viewer"] as const) {
      const token = await cache.roleToken(role, "acme");
      expect((await call(`/v1/cache/entries/${acmeId}`, token, { method: "DELETE" })).status).toBe(403);
      expect((await call(`/v1/cache/entries?repo=shared/app`, token, { method: "DELETE" })).status).toBe(403);
      expect((await call(`/v1/cache/entries/${globexId}`, token, { method: "DELETE" })).status).toBe(404);
    }
    expect((await call(`/v1/cache/entries?repo=shared/app&org=globex`, acmeAdmin, { method: "DELETE" })).status).toBe(403);
    expect(await all()).toEqual(before);
  });

  test("remove by repository: an org-admin removes its org's shared/app only", async () => {
    const acmeAdmin = await cache.roleToken("org-admin", "acme");
    const saved = await saveV1(cache.url, await cache.token("shared/app", main, 600, "acme"), "deps-2", "v", seededBytes("a2", 10));
    expect((await call(`/v1/cache/entries?repo=shared/app`, acmeAdmin, { method: "DELETE" })).body.deleted.sort()).toEqual([acmeId, saved].sort());
    expect(await all()).toEqual(["globex:globex/only:only-1:50", "globex:shared/app:deps-1:700"].sort());
    expect((await call(`/v1/cache/entries?org=acme`, await cache.adminToken())).body.entries).toEqual([]);
  });

  test("tokens: an org-admin mints for its own org only; members may not; status and sweep are operators'", async () => {
    const acmeAdmin = await cache.roleToken("org-admin", "acme");
    const body = JSON.stringify({ repo: "shared/app", ref: "refs/heads/main" });
    const minted = await call("/v1/cache/tokens", acmeAdmin, { method: "POST", body });
    expect(minted.status).toBe(200);
    expect((await verifyRuntimeToken(SECRET, minted.body.token)).org).toBe("acme");
    expect((await call("/v1/cache/tokens", acmeAdmin, { method: "POST", body: JSON.stringify({ repo: "shared/app", ref: "refs/heads/main", org: "globex" }) })).status).toBe(403);
    expect((await call("/v1/cache/tokens", await cache.roleToken("member", "acme"), { method: "POST", body })).status).toBe(403);
    const op = await call("/v1/cache/tokens", await cache.adminToken(), { method: "POST", body: JSON.stringify({ repo: "shared/app", ref: "refs/heads/main", org: "globex" }) });
    expect((await verifyRuntimeToken(SECRET, op.body.token)).org).toBe("globex");
    const before = await all();
    expect((await call("/v1/cache/status", acmeAdmin)).status).toBe(403);
    expect((await call("/v1/cache/sweep", acmeAdmin, { method: "POST" })).status).toBe(403);
    expect((await call("/v1/cache/status", await cache.adminToken())).status).toBe(200);
    expect(await all()).toEqual(before);
  });
});

describe("an org's cache quota from the org limits", () => {
  test("an operator's override (nimbus limits set ORG --cache-quota) is enforced: LRU within that org, over-cap saves refused, other orgs untouched", async () => {
    const nc = await connectNats({ url: cache.natsUrl, name: "quota-test" });
    try {
      const limits = await ensureLimitsBucket(nc);
      await limits.put("initech", new TextEncoder().encode(JSON.stringify({ cacheBytes: 500 })));
      const token = await cache.token("initech/app", main, 600, "initech");
      const usage = async () => (await call("/v1/cache/usage?org=initech", await cache.adminToken())).body;
      // The cache's mirror sees the override within the watch's delivery.
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await rawClient(cache.url, token).reserve("too-big", "v", 600);
        if (r.status === 400) {
          expect(await r.text()).toContain("over the data cap of 500 B");
          break;
        }
        if (Date.now() > deadline) throw new Error(`override not enforced: reserve answered ${r.status}`);
        await Bun.sleep(50);
      }
      await saveV1(cache.url, token, "a-1", "v", seededBytes("a1", 300));
      await saveV1(cache.url, token, "a-2", "v", seededBytes("a2", 300)); // 600 > 500: a-1 (least recently used) goes
      // (reserves made before the mirror saw the override are uploads of their own key, left aside here)
      const keys = (await call("/v1/cache/entries?org=initech", await cache.adminToken())).body.entries.map((e: any) => e.key).filter((k: string) => k.startsWith("a-"));
      expect(keys).toEqual(["a-2"]);
      expect(JSON.stringify(await usage())).toContain("300");
      // globex has no override (the default: no quota): its 700-byte entry stays.
      expect((await call("/v1/cache/entries?org=globex", await cache.adminToken())).body.entries.map((e: any) => e.size)).toContain(700);
    } finally {
      await nc.close();
    }
  });
});
