/**
 * v2 block uploads on the filesystem: blocks whose offset can be guessed from their id (the Azure
 * SDK's sequential, fixed-size blocks) are written into the archive file, so Put Block List copies
 * nothing; any other block list (reordered, a subset, repeated or unguessable ids, a block
 * re-uploaded with other bytes) must still produce exactly the listed bytes.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { openDownload } from "../../src/cache/downloads.ts";
import { WRITE, type Caller } from "../../src/cache/model.ts";
import { commitBlockList, finalize, reserve, writeBlob } from "../../src/cache/uploads.ts";
import { removeDir, seededBytes } from "./support/files.ts";
import { stopCoreNats, testCore } from "./support/core.ts";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));
afterAll(() => stopCoreNats());

const who: Caller = { org: "acme", repo: "acme/app", scopes: [{ scope: "refs/heads/main", permission: WRITE | 1 }] };
const azureId = (prefix: string, n: number) => btoa(prefix + String(n).padStart(6, "0"));
const stream = (b: Uint8Array) => new Blob([b as Uint8Array<ArrayBuffer>]).stream() as ReadableStream<Uint8Array>;

async function core() {
  const t = await testCore();
  cleanups.push(() => (t.close(), removeDir(t.dir)));
  return t;
}

async function objects(t: Awaited<ReturnType<typeof core>>, id: number): Promise<string[]> {
  const out: string[] = [];
  for await (const o of t.d.store.list(`e/${id}/`)) out.push(o.name);
  return out.sort();
}

/** Upload `blocks` (id, bytes) concurrently, commit `list`, finalize; returns the archive's bytes. */
async function upload(t: Awaited<ReturnType<typeof core>>, key: string, blocks: [string, Uint8Array][], list: string[], beforeCommit?: (id: number) => Promise<void>) {
  const e = await reserve(t.d, who, { key, version: "v", protocol: "v2" });
  await Promise.all(blocks.map(([id, b]) => writeBlob(t.d, e.id, id, stream(b), b.length)));
  await beforeCommit?.(e.id);
  await commitBlockList(t.d, e.id, list);
  const size = list.reduce((s, id) => s + blocks.findLast(([b]) => b === id)![1].length, 0);
  await finalize(t.d, who, key, "v", size);
  const dl = await openDownload(t.d, e.id, null, true);
  return { id: e.id, bytes: Buffer.from(await new Response(dl.body).arrayBuffer()) };
}

const data = seededBytes("blocks", 5 * 1000 + 123);
const cut = (n: number, size = 1000) => data.subarray(n * size, Math.min(data.length, (n + 1) * size));

test("Azure-style blocks, arriving out of order, land in the archive file: no per-block objects, no copy", async () => {
  const t = await core();
  const ids = Array.from({ length: 6 }, (_, i) => azureId("f0e1d2c3-prefix-", i));
  const blocks = [1, 0, 5, 3, 2, 4].map((i) => [ids[i]!, cut(i)] as [string, Uint8Array]); // the short last block early
  let before: string[] = [];
  const { id, bytes } = await upload(t, "k1", blocks, ids, async (entry) => void (before = await objects(t, entry)));
  expect(before).toEqual([`e/${id}/data`]);
  expect(bytes.equals(Buffer.from(data))).toBe(true);
  expect(await objects(t, id)).toEqual([`e/${id}/data`]);
});

test("the short last block arriving first is misplaced; commit still yields the listed bytes", async () => {
  const t = await core();
  const ids = Array.from({ length: 6 }, (_, i) => azureId("p", i));
  const { bytes } = await upload(t, "k0", ids.map((id, i) => [id, cut(i)] as [string, Uint8Array]).reverse(), ids);
  expect(bytes.equals(Buffer.from(data))).toBe(true);
});

test("a block list in another order than the ids: the archive is rebuilt in list order", async () => {
  const t = await core();
  const ids = [0, 1, 2].map((i) => azureId("p", i));
  const blocks = ids.map((id, i) => [id, cut(i)] as [string, Uint8Array]);
  const { bytes } = await upload(t, "k2", blocks, [ids[2]!, ids[0]!, ids[1]!]);
  expect(bytes.equals(Buffer.concat([cut(2), cut(0), cut(1)]))).toBe(true);
});

test("a subset, a repeated block, unguessable ids and a block re-uploaded with other bytes", async () => {
  const t = await core();
  const ids = [0, 1, 2, 3].map((i) => azureId("p", i));
  const random = btoa("no-number-here");
  const blocks: [string, Uint8Array][] = [...ids.map((id, i) => [id, cut(i)] as [string, Uint8Array]), [random, cut(4, 700)]];
  const other = seededBytes("other", 1000);
  const { bytes } = await upload(t, "k3", blocks, [ids[0]!, random, ids[1]!, ids[1]!], async (entry) => {
    await writeBlob(t.d, entry, ids[1]!, stream(other), other.length);
  });
  expect(bytes.equals(Buffer.concat([cut(0), cut(4, 700), other, other]))).toBe(true);
});

test("a block list naming a missing block discards the upload, placed blocks included", async () => {
  const t = await core();
  const e = await reserve(t.d, who, { key: "k4", version: "v", protocol: "v2" });
  await writeBlob(t.d, e.id, azureId("p", 0), stream(cut(0)), 1000);
  await expect(commitBlockList(t.d, e.id, [azureId("p", 0), azureId("p", 1)])).rejects.toThrow("InvalidBlockList");
  expect(await objects(t, e.id)).toEqual([]);
  expect(t.d.index.get(e.id)).toBeUndefined();
});
