/**
 * One conformance suite for the ObjectStore interface, run against every implementation: the
 * filesystem store and the S3 store on a real S3-compatible server (s3rver).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { renameSync } from "node:fs";
import { join } from "node:path";
import { fsStore } from "../../src/blobs/backend/fs.ts";
import { s3Store } from "../../src/blobs/backend/s3.ts";
import type { ObjectStore } from "../../src/blobs/backend/types.ts";
import { isAppError } from "../../src/core/errors.ts";
import { removeDir, seededBytes, tempDir } from "../cache/support/files.ts";
import { startS3, type S3Server } from "../cache/support/s3.ts";

const body = (b: Uint8Array, chunk = 64 * 1024) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < b.length; i += chunk) c.enqueue(b.subarray(i, i + chunk));
      c.close();
    },
  });

async function bytes(src: ReadableStream<Uint8Array> | Blob): Promise<Buffer> {
  return Buffer.from(await new Response(src).arrayBuffer());
}

async function names(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.name);
  return out.sort();
}

/** Takes the backend away and gives it back, so `check` can be seen failing. */
interface Outage {
  begin(): Promise<void>;
  end(): Promise<void>;
}

function conformance(kind: string, open: () => Promise<ObjectStore>, outage: () => Outage) {
  describe(`ObjectStore conformance: ${kind}`, () => {
    let store: ObjectStore;
    beforeAll(async () => {
      store = await open();
    });
    const data = seededBytes(kind, 6 * 1024 * 1024 + 17); // over one 5 MiB S3 part: multipart

    test("put streams an object; read returns it whole and by range; size reports it", async () => {
      expect(await store.put("e/1/blob", body(data), { maxBytes: 10 * 1024 * 1024 })).toBe(data.length);
      expect(await store.size("e/1/blob")).toBe(data.length);
      expect((await bytes(await store.read("e/1/blob", 0, data.length - 1))).equals(data)).toBe(true);
      expect((await bytes(await store.read("e/1/blob", 1000, 1999))).equals(data.subarray(1000, 2000))).toBe(true);
    });

    test("put replaces an existing object", async () => {
      const other = seededBytes("other", 1000);
      await store.put("e/1/blob", body(other), { maxBytes: 1 << 20 });
      expect((await bytes(await store.read("e/1/blob", 0, 999))).equals(other)).toBe(true);
    });

    test("a body over maxBytes fails with payload_too_large and leaves nothing", async () => {
      const err = await store.put("e/2/blob", body(data), { maxBytes: 1024 * 1024 }).catch((e) => e);
      expect(isAppError(err, "payload_too_large")).toBe(true);
      expect(await store.size("e/2/blob")).toBeUndefined();
    });

    test("a body shorter than expectedBytes fails with bad_request and leaves nothing", async () => {
      const err = await store.put("e/3/blob", body(data.subarray(0, 100)), { maxBytes: 1 << 20, expectedBytes: 200 }).catch((e) => e);
      expect(isAppError(err, "bad_request")).toBe(true);
      expect(await store.size("e/3/blob")).toBeUndefined();
    });

    test("list by prefix, delete (missing names are fine), size of a missing object", async () => {
      await store.put("e/4/o0", body(data.subarray(0, 10)), { maxBytes: 100 });
      await store.put("e/4/o10", body(data.subarray(10, 20)), { maxBytes: 100 });
      expect(await names(store, "e/4/")).toEqual(["e/4/o0", "e/4/o10"]);
      await store.delete(["e/4/o0", "e/4/o10", "e/4/never"]);
      expect(await names(store, "e/4/")).toEqual([]);
      expect(await store.size("e/4/o0")).toBeUndefined();
    });

    test("object names are the service's own: traversal is refused", async () => {
      await expect(store.put("../../etc/x", body(data.subarray(0, 1)), { maxBytes: 10 })).rejects.toThrow("invalid object name");
      await expect(store.read("e/1/../../x", 0, 1)).rejects.toThrow("invalid object name");
    });

    test("check passes while the backend is up, fails while it is down, and passes again once it is back", async () => {
      await expect(store.check()).resolves.toBeUndefined();
      const o = outage();
      await o.begin();
      try {
        await expect(store.check()).rejects.toThrow();
      } finally {
        await o.end();
      }
      await expect(store.check()).resolves.toBeUndefined();
    }, 30_000);
  });
}

const dirs: string[] = [];
let s3: S3Server | undefined;
afterAll(async () => {
  for (const d of dirs) removeDir(d);
  await s3?.cleanup();
});

let fsDir = "";
conformance(
  "filesystem",
  async () => {
    fsDir = tempDir("nimbus-fsstore-");
    dirs.push(fsDir);
    return fsStore(fsDir);
  },
  () => ({
    begin: async () => renameSync(join(fsDir, "objects"), join(fsDir, "objects.away")),
    end: async () => renameSync(join(fsDir, "objects.away"), join(fsDir, "objects")),
  }),
);

conformance(
  "S3 (s3rver)",
  async () => {
    s3 = await startS3();
    return s3Store({ bucket: s3.bucket, prefix: "conf/", endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, partSize: 5 * 1024 * 1024 });
  },
  () => ({ begin: () => s3!.stop(), end: () => s3!.start() }),
);

test("filesystem putAt writes chunks in place, out of order", async () => {
  const dir = tempDir("nimbus-fsstore-");
  dirs.push(dir);
  const store = fsStore(dir);
  const data = seededBytes("at", 300_000);
  await store.putAt!("e/9/data", 200_000, body(data.subarray(200_000)), { maxBytes: 1 << 20, expectedBytes: 100_000 });
  await store.putAt!("e/9/data", 0, body(data.subarray(0, 200_000)), { maxBytes: 1 << 20, expectedBytes: 200_000 });
  expect((await bytes(await store.read("e/9/data", 0, data.length - 1))).equals(data)).toBe(true);
});
