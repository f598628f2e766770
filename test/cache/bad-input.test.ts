/**
 * Bad input gets a clear 4xx and leaves no partial entry: path-traversal keys and ids, a wrong size
 * at commit, a block list naming missing blocks, a range beyond the end, expired, foreign and
 * tampered tokens and URLs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BlockBlobClient } from "@azure/storage-blob";
import { mintToken } from "../../src/auth/tokens.ts";
import { mintRuntimeToken } from "../../src/protocol/cache-token.ts";
import { seededBytes } from "./support/files.ts";
import { rawClient, saveV1 } from "./support/raw.ts";
import { startTestCache, type TestCache } from "./support/service.ts";

let cache: TestCache;
let token: string;
let c: ReturnType<typeof rawClient>;
const data = seededBytes("bad", 4096);

beforeAll(async () => {
  cache = await startTestCache();
  token = await cache.token("acme/app", { ref: "refs/heads/main" });
  c = rawClient(cache.url, token);
});
afterAll(() => cache.cleanup());

async function entries(): Promise<{ key: string; state: string }[]> {
  const r = await fetch(`${cache.url}/v1/cache/entries?repo=acme/app`, { headers: { authorization: `Bearer ${await cache.adminToken()}` } });
  return ((await r.json()) as { entries: { key: string; state: string }[] }).entries;
}

describe("keys and ids", () => {
  test("a path-traversal key is refused by v1 and v2", async () => {
    const r1 = await c.reserve("../../etc/passwd", "v", 10);
    expect(r1.status).toBe(422);
    expect(((await r1.json()) as { message: string }).message).toContain("path traversal");
    const r2 = await c.twirp("CreateCacheEntry", { key: "a/../../b", version: "v" });
    expect(r2.status).toBe(400);
    expect(await r2.json()).toMatchObject({ code: "invalid_argument" });
    expect((await c.lookup(["..\\..\\x"], "v")).status).toBe(422);
  });

  test("path-traversal and non-numeric ids are refused", async () => {
    expect((await c.patch("..%2F..%2Fetc", 0, 3, "abcd")).status).toBe(422);
    expect((await c.commit("1e3", 4)).status).toBe(422);
    const blob = await fetch(`${cache.url}/blob/nimbus/u/..%2F1?sp=cw&se=9999999999&sig=x`, { method: "PUT", body: "x", headers: { "x-ms-blob-type": "BlockBlob" } });
    expect(blob.status).toBeGreaterThanOrEqual(400);
    expect(blob.status).toBeLessThan(500);
  });

  test("a malformed block id is refused", async () => {
    const created = (await (await c.twirp("CreateCacheEntry", { key: "blockid", version: "v" })).json()) as { signed_upload_url: string };
    const r = await fetch(`${created.signed_upload_url}&comp=block&blockid=..%2F..%2Fx`, { method: "PUT", body: "x" });
    expect(r.status).toBe(400);
    expect(r.headers.get("x-ms-error-code")).toBe("InvalidInput");
  });
});

describe("sizes and ranges", () => {
  test("v1: a commit with the wrong size is a 400 and the upload is gone", async () => {
    const { cacheId } = (await (await c.reserve("wrong-size", "v", data.length)).json()) as { cacheId: number };
    expect((await c.patch(cacheId, 0, data.length - 1, data)).status).toBe(204);
    const r = await c.commit(cacheId, data.length + 1);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toContain("differs from the reserved size");
    expect((await entries()).some((e) => e.key === "wrong-size")).toBe(false);
    expect((await c.lookup(["wrong-size"], "v")).status).toBe(204);
  });

  test("v1: a commit with a gap is a 400; a chunk past the reserved size or of the wrong length is a 400", async () => {
    const { cacheId } = (await (await c.reserve("gap", "v", 100)).json()) as { cacheId: number };
    expect((await c.patch(cacheId, 90, 100, data.subarray(0, 11))).status).toBe(400);
    expect((await c.patch(cacheId, 0, 49, data.subarray(0, 10))).status).toBe(400);
    expect((await c.patch(cacheId, 50, 99, data.subarray(0, 50))).status).toBe(204);
    const r = await c.commit(cacheId, 100);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toContain("no data uploaded for bytes 0-49");
    expect((await entries()).some((e) => e.key === "gap")).toBe(false);
  });

  test("v2: finalize with the wrong size is invalid_argument and leaves no entry", async () => {
    const created = (await (await c.twirp("CreateCacheEntry", { key: "v2-size", version: "v" })).json()) as { signed_upload_url: string };
    await new BlockBlobClient(created.signed_upload_url).uploadData(data);
    const r = await c.twirp("FinalizeCacheEntryUpload", { key: "v2-size", version: "v", size_bytes: "5" });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ code: "invalid_argument" });
    expect((await entries()).some((e) => e.key === "v2-size")).toBe(false);
  });

  test("v2: a block list naming a block never uploaded is a 400 and the upload is discarded", async () => {
    const created = (await (await c.twirp("CreateCacheEntry", { key: "v2-blocks", version: "v" })).json()) as { signed_upload_url: string };
    const id = (n: number) => Buffer.from(`block-${String(n).padStart(6, "0")}`).toString("base64");
    expect((await fetch(`${created.signed_upload_url}&comp=block&blockid=${encodeURIComponent(id(0))}`, { method: "PUT", body: data as BodyInit })).status).toBe(201);
    const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>${id(0)}</Latest><Latest>${id(1)}</Latest></BlockList>`;
    const r = await fetch(`${created.signed_upload_url}&comp=blocklist`, { method: "PUT", body: xml, headers: { "content-type": "application/xml" } });
    expect(r.status).toBe(400);
    expect(await r.text()).toContain("InvalidBlockList");
    expect((await entries()).some((e) => e.key === "v2-blocks")).toBe(false);
    const fin = await c.twirp("FinalizeCacheEntryUpload", { key: "v2-blocks", version: "v", size_bytes: String(data.length) });
    expect(fin.status).toBe(404);
  });

  test("a range beyond the end is a 416 naming the size; a malformed range a 400", async () => {
    await saveV1(cache.url, token, "ranged", "v", data);
    const hit = (await (await c.lookup(["ranged"], "v")).json()) as { archiveLocation: string };
    const r = await fetch(hit.archiveLocation, { headers: { range: `bytes=${data.length}-${data.length + 10}` } });
    expect(r.status).toBe(416);
    expect(r.headers.get("content-range")).toBe(`bytes */${data.length}`);
    expect((await fetch(hit.archiveLocation, { headers: { range: "bytes=1-2,5-6" } })).status).toBe(400);
  });
});

describe("tokens and signed URLs", () => {
  test("an expired runtime token is a 401", async () => {
    const expired = await mintRuntimeToken(cache.deps.secret, { repo: "acme/app", scopes: [{ scope: "refs/heads/main", permission: 3 }], ttlSeconds: -60 });
    const r = await rawClient(cache.url, expired).reserve("k", "v", 1);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { message: string }).message).toContain("expired");
    expect((await rawClient(cache.url, expired).twirp("GetCacheEntryDownloadURL", { key: "k", version: "v" })).status).toBe(401);
  });

  test("a token signed by someone else, an admin token, or none at all is a 401", async () => {
    const foreign = await mintRuntimeToken("another-secret-entirely-0123456789abcdef", { repo: "acme/app", scopes: [{ scope: "refs/heads/main", permission: 3 }], ttlSeconds: 600 });
    expect((await rawClient(cache.url, foreign).reserve("k", "v", 1)).status).toBe(401);
    const admin = (await mintToken(cache.deps.secret, { sub: "admin", role: "operator", ttlSeconds: 600 })).token;
    expect((await rawClient(cache.url, admin).lookup(["k"], "v")).status).toBe(401);
    expect((await fetch(`${cache.url}/_apis/artifactcache/cache?keys=k&version=v`)).status).toBe(401);
  });

  test("another repository's token cannot write into this repository's upload (403)", async () => {
    const { cacheId } = (await (await c.reserve("mine", "v", 4)).json()) as { cacheId: number };
    const other = rawClient(cache.url, await cache.token("evil/repo", { ref: "refs/heads/main" }));
    expect((await other.patch(cacheId, 0, 3, "evil")).status).toBe(403);
    expect((await other.commit(cacheId, 4)).status).toBe(403);
  });

  test("a read-only token cannot save: 'cache write denied' in both protocols", async () => {
    const ro = await mintRuntimeToken(cache.deps.secret, { repo: "acme/app", scopes: [{ scope: "refs/heads/main", permission: 1 }], ttlSeconds: 600 });
    const r1 = await rawClient(cache.url, ro).reserve("ro", "v", 1);
    expect(r1.status).toBe(403);
    expect(((await r1.json()) as { message: string }).message).toStartWith("cache write denied:");
    const r2 = await (await rawClient(cache.url, ro).twirp("CreateCacheEntry", { key: "ro", version: "v" })).json();
    expect(r2).toMatchObject({ ok: false });
  });

  test("tampered, expired or misused blob URLs are 403", async () => {
    await saveV1(cache.url, token, "signed", "v", data);
    const hit = (await (await c.lookup(["signed"], "v")).json()) as { archiveLocation: string };
    const url = new URL(hit.archiveLocation);
    const tampered = new URL(url);
    tampered.pathname = tampered.pathname.replace(/\/(\d+)$/, (_, n) => `/${Number(n) + 1}`);
    expect((await fetch(tampered)).status).toBe(403);
    const expired = new URL(url);
    expired.searchParams.set("se", "1000");
    expect((await fetch(expired)).status).toBe(403);
    const asUpload = new URL(url);
    asUpload.pathname = asUpload.pathname.replace("/e/", "/u/");
    expect((await fetch(asUpload, { method: "PUT", body: "x", headers: { "x-ms-blob-type": "BlockBlob" } })).status).toBe(403);
    expect((await fetch(url)).status).toBe(200);
  });
});
