/**
 * The registry's pure pieces and the blob store on a real filesystem: digests, ranges, the name and
 * tag grammar, URL shapes (traversal refused), manifest reading, and the store's write, verify,
 * commit, cut-back and read-back.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDigest, digestOf } from "../../src/blobs/digest.ts";
import { parseRange } from "../../src/blobs/range.ts";
import { BlobStore } from "../../src/blobs/store.ts";
import { isBlobError } from "../../src/blobs/errors.ts";
import { RegistryError } from "../../src/registry/errors.ts";
import { parseDigest, parseName, parseReference } from "../../src/registry/names.ts";
import { route } from "../../src/registry/http/router.ts";
import { parseManifest } from "../../src/registry/manifest.ts";
import { accepts } from "../../src/registry/manifests.ts";
import { parseContentRange } from "../../src/registry/uploads.ts";
import { RepoStore } from "../../src/registry/repos.ts";
import { seeded } from "./support/service.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-blobs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as RegistryError).code;
  }
  return "none";
};
const stream = (b: Uint8Array, cut = false) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(b);
      if (cut) c.error(new Error("connection reset"));
      else c.close();
    },
  });

describe("digests and ranges", () => {
  test("sha256 only; other algorithms are unsupported, junk malformed", () => {
    expect(checkDigest(digestOf("x"))).toBe(digestOf("x"));
    expect(checkDigest(`sha512:${"a".repeat(128)}`)).toBe("unsupported");
    expect(checkDigest("sha256:ABC")).toBe("malformed");
    expect(checkDigest("../../etc/passwd")).toBe("malformed");
  });
  test("byte ranges: whole, bounded, open, suffix, unsatisfiable, ignored junk", () => {
    expect(parseRange(null, 10)).toEqual({ kind: "whole" });
    expect(parseRange("bytes=2-4", 10)).toEqual({ kind: "range", range: { start: 2, end: 4 } });
    expect(parseRange("bytes=8-", 10)).toEqual({ kind: "range", range: { start: 8, end: 9 } });
    expect(parseRange("bytes=5-100", 10)).toEqual({ kind: "range", range: { start: 5, end: 9 } });
    expect(parseRange("bytes=-3", 10)).toEqual({ kind: "range", range: { start: 7, end: 9 } });
    expect(parseRange("bytes=10-", 10)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-1,4-5", 10)).toEqual({ kind: "whole" });
    expect(parseRange("items=0-1", 10)).toEqual({ kind: "whole" });
  });
  test("Content-Range of a chunk", () => {
    expect(parseContentRange("0-99")).toEqual({ start: 0, end: 99 });
    expect(parseContentRange("bytes 100-199/*")).toEqual({ start: 100, end: 199 });
    expect(() => parseContentRange("9-1")).toThrow();
    expect(() => parseContentRange("abc")).toThrow();
  });
});

describe("grammar and routes", () => {
  test("a name is ORG/..., lower-case components joined by the spec's separators", () => {
    expect(parseName("acme/app").org).toBe("acme");
    expect(parseName("acme/a.b/c__d/e-f").org).toBe("acme");
    for (const bad of ["app", "Acme/app", "acme/../x", "acme/./x", "acme/_x", "acme/x/", "ac_me/x"]) expect([bad, codeOf(() => parseName(bad))]).toEqual([bad, "NAME_INVALID"]);
  });
  test("references: tags by the tag grammar, digests by sha256", () => {
    expect(parseReference("v1.0_rc-1")).toEqual({ kind: "tag", tag: "v1.0_rc-1" });
    expect(parseReference(digestOf("m"))).toEqual({ kind: "digest", digest: digestOf("m") });
    expect(codeOf(() => parseReference(".."))).toBe("NAME_INVALID");
    expect(codeOf(() => parseReference("a".repeat(129)))).toBe("NAME_INVALID");
    expect(codeOf(() => parseDigest("sha256:../../x"))).toBe("DIGEST_INVALID");
  });
  test("URL shapes, with names of several components", () => {
    expect(route("/v2/")).toEqual({ kind: "base" });
    expect(route("/v2/acme/a/b/tags/list")).toEqual({ kind: "tags", name: "acme/a/b" });
    expect(route("/v2/acme/a/blobs/uploads/")).toEqual({ kind: "uploads", name: "acme/a" });
    expect(route("/v2/acme/a/blobs/uploads/abc")).toEqual({ kind: "upload", name: "acme/a", id: "abc" });
    expect(route("/v2/acme/a/manifests/sha256%3Aab")).toEqual({ kind: "manifest", name: "acme/a", ref: "sha256:ab" });
    expect(route("/v2/acme/a/referrers/x")).toEqual({ kind: "referrers", name: "acme/a", digest: "x" });
    expect(route("/v2/acme/a/other/x")).toBeNull();
  });
  test("an encoded separator or bad encoding in a segment is NAME_INVALID", () => {
    expect(codeOf(() => route("/v2/acme/a%2f..%2fb/tags/list"))).toBe("NAME_INVALID");
    expect(codeOf(() => route("/v2/acme/a/manifests/%E0%A4%A"))).toBe("NAME_INVALID");
    expect(codeOf(() => route("/v2/acme/a/manifests/a%5cb"))).toBe("NAME_INVALID");
  });
  test("manifest reading: references, subject, artifact type, media type agreement", () => {
    const d = digestOf("c");
    const m = parseManifest(new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/x-art", digest: d, size: 1 }, layers: [{ digest: digestOf("l"), size: 1 }],
      subject: { digest: digestOf("s"), size: 3 },
    })), null);
    expect(m.blobs).toEqual([d, digestOf("l")]);
    expect(m.subject).toBe(digestOf("s"));
    expect(m.artifactType).toBe("application/x-art");
    expect(codeOf(() => parseManifest(new TextEncoder().encode('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'), "application/vnd.oci.image.manifest.v1+json"))).toBe("MANIFEST_INVALID");
    expect(codeOf(() => parseManifest(new TextEncoder().encode('{"schemaVersion":2}'), "text/plain"))).toBe("MANIFEST_INVALID");
  });
  test("Accept: absent, exact, wildcard, or not admitted", () => {
    expect(accepts(null, "application/x")).toBe(true);
    expect(accepts("application/y, application/x;q=0.5", "application/x")).toBe(true);
    expect(accepts("*/*", "application/x")).toBe(true);
    expect(accepts("application/y", "application/x")).toBe(false);
  });
});

describe("the blob store", () => {
  test("a blob is stored once under its digest, and read back whole or by range", async () => {
    const store = await new BlobStore(join(dir, "a")).init();
    const b = seeded("store", 70_000);
    const one = await store.putStream(stream(b), { maxBytes: 1e9, expected: digestOf(b) });
    const two = await store.putStream(stream(b), { maxBytes: 1e9 });
    expect(one).toEqual({ digest: digestOf(b), size: b.length });
    expect(two.digest).toBe(one.digest);
    expect(readdirSync(join(dir, "a", "tmp"))).toEqual([]);
    expect(Buffer.compare(new Uint8Array(await new Response(await store.read(one.digest)).arrayBuffer()), b)).toBe(0);
    expect(Buffer.compare(new Uint8Array(await new Response(await store.read(one.digest, { start: 10, end: 19 })).arrayBuffer()), b.subarray(10, 20))).toBe(0);
  });
  test("a wrong digest stores nothing and leaves no temp file", async () => {
    const store = await new BlobStore(join(dir, "b")).init();
    const b = seeded("wrong", 100);
    const e = await store.putStream(stream(b), { maxBytes: 1e9, expected: digestOf("other") }).catch((x) => x);
    expect(isBlobError(e, "digest_mismatch")).toBe(true);
    expect(await store.stat(digestOf(b))).toBeNull();
    expect(readdirSync(join(dir, "b", "tmp"))).toEqual([]);
  });
  test("an append past the limit, short of its declared length, or cut off is undone", async () => {
    const store = await new BlobStore(join(dir, "c")).init();
    const id = store.newTempId();
    await store.createTemp(id);
    expect(await store.append(id, stream(seeded("p1", 100)), { maxBytes: 1000 })).toBe(100);
    expect(isBlobError(await store.append(id, stream(seeded("p2", 950)), { maxBytes: 1000 }).catch((x) => x), "too_large")).toBe(true);
    expect(isBlobError(await store.append(id, stream(seeded("p3", 10)), { maxBytes: 1000, expectBytes: 20 }).catch((x) => x), "short_write")).toBe(true);
    expect(await store.append(id, stream(seeded("p4", 10), true), { maxBytes: 1000 }).catch((x) => x)).toBeInstanceOf(Error);
    expect(await store.tempSize(id)).toBe(100);
    // The running digest was dropped on failure: commit reads the bytes back and still gets it right.
    expect((await store.commit(id, digestOf(seeded("p1", 100)))).size).toBe(100);
  });
  test("an upload begun by another process (no running digest) is hashed from disk at commit", async () => {
    const root = join(dir, "d");
    const first = await new BlobStore(root).init();
    const id = first.newTempId();
    await first.createTemp(id);
    await first.append(id, stream(seeded("half", 500)), { maxBytes: 1e9 });
    const second = await new BlobStore(root).init(); // a restart: nothing in memory
    await second.append(id, stream(seeded("rest", 500)), { maxBytes: 1e9 });
    const whole = new Uint8Array([...seeded("half", 500), ...seeded("rest", 500)]);
    expect((await second.commit(id, digestOf(whole))).digest).toBe(digestOf(whole));
  });
  test("temp ids that could name another path are refused", async () => {
    const store = await new BlobStore(join(dir, "e")).init();
    for (const id of ["../x", "a/b", "", ".."]) expect(isBlobError(await store.createTemp(id).catch((x) => x), "bad_id")).toBe(true);
  });
});

describe("repository metadata", () => {
  test("links, manifests and tags are per repository; a missing file reads as absent", async () => {
    const repos = new RepoStore(join(dir, "repos"));
    const d = digestOf("blob");
    await repos.linkBlob("acme/a", d, 4);
    expect(await repos.blob("acme/a", d)).toMatchObject({ size: 4 });
    expect(await repos.blob("acme/b", d)).toBeNull();
    await repos.putManifest("acme/a", { digest: d, mediaType: "application/x", size: 4 });
    await repos.setTag("acme/a", "v1", d);
    await repos.setTag("acme/a", "V0", d);
    expect(await repos.tags("acme/a")).toEqual(["V0", "v1"]);
    expect(await repos.deleteManifest("acme/a", d)).toBe(true);
    expect(await repos.tags("acme/a")).toEqual([]);
    expect(existsSync(join(dir, "repos", "acme", "a", "_layers"))).toBe(true);
  });
  test("a path that would leave the root is refused even if the grammar were bypassed", async () => {
    const repos = new RepoStore(join(dir, "repos"));
    writeFileSync(join(dir, "outside.json"), "{}");
    await expect(repos.exists("../..")).rejects.toThrow("escapes");
    await expect(repos.setTag("acme/a", "../../../../outside", digestOf("x"))).rejects.toThrow();
  });
});
