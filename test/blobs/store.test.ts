/**
 * The content-addressed BlobStore over each object store: the filesystem store and the S3 store on a
 * real S3-compatible server (s3rver). One suite, both backends: stored once, read whole and by range,
 * chunked writes committed under their digest, a wrong digest or a failed write leaves nothing, list
 * and remove for garbage collection. Then the filesystem store's reads: file slices (sendfile, with a
 * Content-Length) that read nothing ahead, checked against the page cache itself (util-linux fincore).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { digestOf, type Digest } from "../../src/blobs/digest.ts";
import { isBlobError } from "../../src/blobs/errors.ts";
import { BlobStore } from "../../src/blobs/store.ts";
import { fsStore } from "../../src/blobs/backend/fs.ts";
import { s3Store } from "../../src/blobs/backend/s3.ts";
import type { ObjectStore } from "../../src/blobs/backend/types.ts";
import { removeDir, seededBytes, tempDir } from "../cache/support/files.ts";
import { startS3, type S3Server } from "../cache/support/s3.ts";

const stream = (b: Uint8Array, cut = false, chunk = 64 * 1024) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < b.length; i += chunk) c.enqueue(b.subarray(i, i + chunk));
      if (cut) c.error(new Error("connection reset"));
      else c.close();
    },
  });
const bytesOf = async (src: Blob | ReadableStream<Uint8Array>) => Buffer.from(await new Response(src).arrayBuffer());
const objectNames = async (o: ObjectStore, prefix = "") => {
  const out: string[] = [];
  for await (const x of o.list(prefix)) out.push(x.name);
  return out.sort();
};

const dirs: string[] = [];
let s3: S3Server | undefined;
afterAll(async () => {
  for (const d of dirs) removeDir(d);
  await s3?.cleanup();
});
const dir = (p: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};

function suite(kind: string, open: () => Promise<{ root: string; objects: ObjectStore }>) {
  describe(`BlobStore on ${kind}`, () => {
    let store: BlobStore;
    let objects: ObjectStore;
    let root: string;
    const big = seededBytes(`${kind}-big`, 3 * 1024 * 1024 + 5); // past the read-ahead threshold: streamed
    test("a blob is stored once under its digest, and read back whole and by range", async () => {
      ({ root, objects } = await open());
      store = await new BlobStore(root, objects).init();
      const one = await store.putStream(stream(big), { maxBytes: 1e9, expected: digestOf(big) });
      const two = await store.putStream(stream(big), { maxBytes: 1e9 });
      expect(one).toEqual({ digest: digestOf(big), size: big.length });
      expect(two.digest).toBe(one.digest);
      expect(await objectNames(objects, "sha256/")).toEqual([`sha256/${one.digest.slice(7, 9)}/${one.digest.slice(7)}`]);
      expect(readdirSync(join(root, "tmp"))).toEqual([]);
      expect((await bytesOf(await store.read(one.digest))).equals(big)).toBe(true);
      expect((await bytesOf(await store.read(one.digest, { start: 2_000_000, end: 3_100_000 }))).equals(big.subarray(2_000_000, 3_100_001))).toBe(true);
      expect((await bytesOf(await store.read(one.digest, { start: 10, end: 19 }))).equals(big.subarray(10, 20))).toBe(true);
      expect(await store.stat(one.digest)).toMatchObject({ size: big.length });
      expect(Buffer.from((await store.bytes(one.digest))!).equals(big)).toBe(true);
    });
    test("the empty blob is a blob", async () => {
      const e = await store.putBytes(new Uint8Array(0), digestOf(""));
      expect(e).toEqual({ digest: digestOf(""), size: 0 });
      expect((await bytesOf(await store.read(e.digest))).length).toBe(0);
    });
    test("a chunked write is hashed as it arrives and committed whole", async () => {
      const id = store.newTempId();
      await store.createTemp(id);
      const parts = [seededBytes(`${kind}-p1`, 700_000), seededBytes(`${kind}-p2`, 300_001)];
      for (const p of parts) await store.append(id, stream(p), { maxBytes: 1e9, expectBytes: p.length });
      const whole = Buffer.concat(parts);
      expect(await store.tempSize(id)).toBe(whole.length);
      expect(await store.commit(id, digestOf(whole))).toEqual({ digest: digestOf(whole), size: whole.length });
      expect(await store.tempSize(id)).toBeNull();
      expect((await bytesOf(await store.read(digestOf(whole)))).equals(whole)).toBe(true);
    });
    test("a wrong digest, a write past the limit or a cut body stores nothing and leaves no temp file", async () => {
      const b = seededBytes(`${kind}-wrong`, 5000);
      expect(isBlobError(await store.putStream(stream(b), { maxBytes: 1e9, expected: digestOf("other") }).catch((x) => x), "digest_mismatch")).toBe(true);
      expect(isBlobError(await store.putStream(stream(b), { maxBytes: 4999 }).catch((x) => x), "too_large")).toBe(true);
      expect(await store.putStream(stream(b, true), { maxBytes: 1e9 }).catch((x) => x)).toBeInstanceOf(Error);
      expect(await store.stat(digestOf(b))).toBeNull();
      expect(readdirSync(join(root, "tmp"))).toEqual([]);
    });
    test("list yields every blob with its size and time; remove deletes one (a missing one is fine)", async () => {
      const small = await store.putBytes(seededBytes(`${kind}-small`, 10));
      const listed = new Map<Digest, { size: number; mtimeMs: number }>();
      for await (const b of store.list()) listed.set(b.digest, b);
      expect([...listed.keys()].sort()).toEqual([digestOf(big), digestOf(""), small.digest, digestOf(Buffer.concat([seededBytes(`${kind}-p1`, 700_000), seededBytes(`${kind}-p2`, 300_001)]))].sort());
      expect(listed.get(small.digest)!.size).toBe(10);
      expect(Math.abs(listed.get(small.digest)!.mtimeMs - Date.now())).toBeLessThan(60_000);
      await store.remove(small.digest);
      await store.remove(small.digest);
      expect(await store.stat(small.digest)).toBeNull();
      expect(await store.read(small.digest, { start: 0, end: 9 }).catch((e) => e.code)).toBe("not_found");
    });
    test("objects of the backend that are not this store's blobs are not listed", async () => {
      await objects.put("sha256/zz/not-a-digest", stream(new Uint8Array(3)), { maxBytes: 10 });
      await objects.put("e/1/cache-archive", stream(new Uint8Array(3)), { maxBytes: 10 });
      for await (const b of store.list()) expect(b.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    });
  });
}

suite("the filesystem", async () => {
  const root = dir("nimbus-cas-fs-");
  return { root, objects: fsStore(root) };
});

suite("S3 (s3rver)", async () => {
  s3 = await startS3("nimbus-blobs");
  const objects = s3Store({ bucket: s3.bucket, prefix: "reg/", endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, partSize: 5 * 1024 * 1024 });
  return { root: dir("nimbus-cas-s3-"), objects };
});

/** Bytes of `path` in the page cache, by util-linux fincore. */
function resident(path: string): number {
  const r = Bun.spawnSync(["fincore", "--bytes", "--noheadings", "--output", "RES", path]);
  return Number(r.stdout.toString().trim());
}
const dropCache = (path: string) => Bun.spawnSync(["dd", `if=${path}`, "iflag=nocache", "count=0", "status=none"]);

describe("filesystem reads for sendfile", () => {
  const root = dir("nimbus-fsread-");
  const store = fsStore(root);
  const data = seededBytes("fsread", 8 * 1024 * 1024 + 3);
  test("a large read is a file slice (sent with sendfile and a Content-Length) that reads no byte before it is sent", async () => {
    await store.put("w/1/big", stream(data), { maxBytes: 1e9 });
    const path = join(root, "objects/w/1/big");
    Bun.spawnSync(["sync", path]);
    dropCache(path);
    expect(resident(path)).toBeLessThan(1024 * 1024);
    const body = await store.read("w/1/big", 0, data.length - 1);
    expect(body).toBeInstanceOf(Blob);
    expect((body as Blob).size).toBe(data.length);
    await Bun.sleep(200);
    expect(resident(path)).toBeLessThan(1024 * 1024); // no read-ahead: it made cold downloads slower (scripts/bench/registry.ts --profile)
    const server = Bun.serve({ port: 0, fetch: () => new Response(body) });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/`);
      expect(res.headers.get("content-length")).toBe(String(data.length)); // a stream would go out chunked (oven-sh/bun#10507)
      expect(res.headers.get("transfer-encoding")).toBeNull();
      expect((await bytesOf(await res.blob())).equals(data)).toBe(true);
    } finally {
      server.stop(true);
    }
  });
  test("a range is a slice of exactly those bytes", async () => {
    const body = await store.read("w/1/big", 6 * 1024 * 1024, 7 * 1024 * 1024 - 1);
    expect(body).toBeInstanceOf(Blob);
    expect((await bytesOf(body)).equals(data.subarray(6 * 1024 * 1024, 7 * 1024 * 1024))).toBe(true);
  });
  test("a read of a missing object is not_found before any byte is sent", async () => {
    expect(await store.read("w/1/none", 0, 10).catch((e) => e.code)).toBe("not_found");
  });
});

describe("opening the configured store", () => {
  test("S3 without a bucket fails at start naming the service's setting", async () => {
    const { openRawStore } = await import("../../src/blobs/backend/open.ts");
    const c = { storage: "s3" as const, s3Bucket: "", s3Prefix: "registry/", s3Endpoint: "", s3Region: "us-east-1", s3ForcePathStyle: true, s3AccessKeyId: "", s3SecretAccessKey: "hunter2-secret", breakerFailures: 3, breakerCooldownMs: 5000 };
    const e = (() => {
      try {
        openRawStore(c, { dir: dir("nimbus-open-"), envPrefix: "NIMBUS_REGISTRY" });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e?.message).toBe("NIMBUS_REGISTRY_S3_BUCKET: is required when NIMBUS_REGISTRY_STORAGE=s3");
    expect(e?.message).not.toContain("hunter2");
  });
});
