/**
 * Protocol details the npm client does not reach on small archives, driven with the same Azure
 * SDK @actions/cache uses (Put Block + Put Block List), plus download Range/HEAD semantics.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BlockBlobClient } from "@azure/storage-blob";
import { seededBytes } from "./support/files.ts";
import { rawClient } from "./support/raw.ts";
import { startTestCache, type TestCache } from "./support/service.ts";

let cache: TestCache;
let token: string;
beforeAll(async () => {
  cache = await startTestCache();
  token = await cache.token("acme/app", { ref: "refs/heads/main" });
});
afterAll(() => cache.cleanup());

describe("v2 block uploads", () => {
  const data = seededBytes("blocks", 5 * 1024 * 1024 + 333);

  test("Put Block (8 in flight) + Put Block List assemble in list order; download whole, by Range and HEAD", async () => {
    const c = rawClient(cache.url, token);
    const created = (await (await c.twirp("CreateCacheEntry", { key: "blocks-1", version: "v" })).json()) as { ok: boolean; signed_upload_url: string };
    expect(created.ok).toBe(true);
    const blob = new BlockBlobClient(created.signed_upload_url);
    await blob.uploadData(data, { blockSize: 512 * 1024, concurrency: 8, maxSingleShotSize: 1024 * 1024 });
    const fin = (await (await c.twirp("FinalizeCacheEntryUpload", { key: "blocks-1", version: "v", size_bytes: String(data.length) })).json()) as { ok: boolean; entry_id: string };
    expect(fin.ok).toBe(true);
    const dl = (await (await c.twirp("GetCacheEntryDownloadURL", { key: "blocks-", version: "v" })).json()) as { ok: boolean; signed_download_url: string; matched_key: string };
    expect(dl).toMatchObject({ ok: true, matched_key: "blocks-1" });
    const whole = await fetch(dl.signed_download_url);
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const part = await fetch(dl.signed_download_url, { headers: { range: "bytes=524000-1049999" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 524000-1049999/${data.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(524000, 1050000))).toBe(true);
    const head = await fetch(dl.signed_download_url, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(data.length));
    expect(head.headers.get("accept-ranges")).toBe("bytes");
    // The Azure SDK's own ranged download path (what buildkit-style clients use) reads it back too.
    const viaSdk = await new BlockBlobClient(dl.signed_download_url).downloadToBuffer(0, undefined, { blockSize: 1024 * 1024, concurrency: 4 });
    expect(viaSdk.equals(data)).toBe(true);
  });

  test("a single Put Blob is served from one file with Content-Length", async () => {
    const c = rawClient(cache.url, token);
    const created = (await (await c.twirp("CreateCacheEntry", { key: "single-1", version: "v" })).json()) as { signed_upload_url: string };
    await new BlockBlobClient(created.signed_upload_url).uploadData(data, { maxSingleShotSize: 8 * 1024 * 1024 });
    await c.twirp("FinalizeCacheEntryUpload", { key: "single-1", version: "v", size_bytes: String(data.length) });
    const dl = (await (await c.twirp("GetCacheEntryDownloadURL", { key: "single-1", version: "v" })).json()) as { signed_download_url: string };
    const r = await fetch(dl.signed_download_url);
    expect(r.headers.get("content-length")).toBe(String(data.length));
    expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);
  });

  test("v1 chunks land in place: the archive is one file, served with Content-Length", async () => {
    const c = rawClient(cache.url, token);
    const r = await c.reserve("v1-inplace", "v", data.length);
    const { cacheId } = (await r.json()) as { cacheId: number };
    const cuts = [0, 1_000_000, 2_500_000, 4_000_000, data.length];
    const chunks = cuts.slice(0, -1).map((s, i) => [s, cuts[i + 1]! - 1] as const).reverse();
    const codes = await Promise.all(chunks.map(([s, e]) => c.patch(cacheId, s, e, data.subarray(s, e + 1) as BodyInit).then((x) => x.status)));
    expect(codes).toEqual([204, 204, 204, 204]);
    expect((await c.commit(cacheId, data.length)).status).toBe(204);
    const hit = (await (await c.lookup(["v1-inplace"], "v")).json()) as { archiveLocation: string };
    const dl = await fetch(hit.archiveLocation);
    expect(dl.headers.get("content-length")).toBe(String(data.length));
    expect(Buffer.from(await dl.arrayBuffer()).equals(data)).toBe(true);
  });
});
