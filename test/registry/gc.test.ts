/**
 * Garbage collection on the real registry service (real blob store and metadata on disk, real
 * nats-server for tokens and limits): what is swept, what survives, within and past the grace
 * window (1 s here), untagged manifests (window 0 here: they go once past the grace), referrers,
 * indexes, blobs shared across organisations, abandoned uploads, dry runs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, utimesSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { client, imageManifest, type Client } from "./support/http.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let acme: Client;
let globex: Client;
const GRACE_MS = 1000;
const pastGrace = () => Bun.sleep(GRACE_MS + 150);
const stored = (digest: string) => existsSync(join(reg.dir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7)));
const gc = (dryRun = false) => reg.running.gc.run({ dryRun });

beforeAll(async () => {
  reg = await startTestRegistry({ config: { gcGraceSeconds: 1, gcUntaggedSeconds: 0, uploadIdleSeconds: 1, gcIntervalSeconds: 3600 } });
  acme = client(reg.url, await reg.token("org-admin", "acme"));
  globex = client(reg.url, await reg.token("org-admin", "globex"));
});
afterAll(() => reg.cleanup());

/** Config, layers and a manifest pushed to `repo` under `ref`; returns the digests. */
async function pushImage(c: Client, repo: string, seed: string, ref: string, layerSizes = [3000, 2000], extra: Record<string, unknown> = {}) {
  const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  const layers = layerSizes.map((n, i) => seeded(`${seed}-${i}`, n));
  await c.pushBlob(repo, config);
  for (const l of layers) await c.pushBlob(repo, l);
  const body = JSON.stringify(imageManifest(config, layers, extra));
  const put = await c.putManifest(repo, ref, body);
  expect(put.status).toBe(201);
  return { config: sha256(config), layers: layers.map(sha256), manifest: sha256(body), layerBytes: layers };
}

describe("sweep and grace", () => {
  test("an unreferenced blob is kept within the grace window and swept after it, with its link", async () => {
    const digest = await acme.pushBlob("acme/loose", seeded("loose", 5000));
    const first = await gc();
    expect(stored(digest)).toBe(true);
    expect((await acme.call("HEAD", `/v2/acme/loose/blobs/${digest}`)).status).toBe(200);
    await pastGrace(); // the HEAD above counts as a use: past the grace from it too
    const second = await gc();
    expect(second.blobsSwept).toBeGreaterThanOrEqual(1);
    expect(second.bytesSwept).toBeGreaterThanOrEqual(5000);
    expect(second.blobLinksRemoved).toBeGreaterThanOrEqual(1);
    expect(stored(digest)).toBe(false);
    expect((await acme.call("HEAD", `/v2/acme/loose/blobs/${digest}`)).status).toBe(404);
    expect(first.dryRun).toBe(false);
  });

  test("a dry run counts what would go and removes nothing", async () => {
    const digest = await acme.pushBlob("acme/dry", seeded("dry", 4000));
    await pastGrace();
    const dry = await gc(true);
    expect(dry.dryRun).toBe(true);
    expect(dry.blobsSwept).toBeGreaterThanOrEqual(1);
    expect(stored(digest)).toBe(true);
    expect((await acme.call("HEAD", `/v2/acme/dry/blobs/${digest}`)).status).toBe(200);
    await pastGrace();
    await gc();
    expect(stored(digest)).toBe(false);
  });

  test("a tagged image survives, byte for byte", async () => {
    const img = await pushImage(acme, "acme/kept", "kept", "v1");
    await pastGrace();
    const r = await gc();
    expect(r.marked).toBeGreaterThanOrEqual(4);
    for (const d of [img.config, ...img.layers, img.manifest]) expect(stored(d)).toBe(true);
    const m = await acme.call("GET", "/v2/acme/kept/manifests/v1");
    expect(m.status).toBe(200);
    const l = await acme.call("GET", `/v2/acme/kept/blobs/${img.layers[0]}`);
    expect(Buffer.compare(Buffer.from(l.bytes), Buffer.from(img.layerBytes[0]!))).toBe(0);
  });

  test("a deleted tag's layers are swept (its manifest is untagged, past its window), other images' are not", async () => {
    const img = await pushImage(acme, "acme/tagdel", "tagdel", "v1");
    const other = await pushImage(acme, "acme/tagdel", "tagdel-other", "v2");
    expect((await acme.call("DELETE", "/v2/acme/tagdel/manifests/v1")).status).toBe(202);
    await pastGrace();
    const r = await gc();
    expect(r.manifestsRemoved).toBeGreaterThanOrEqual(1);
    for (const d of [img.config, ...img.layers, img.manifest]) expect(stored(d)).toBe(false);
    for (const d of [other.config, ...other.layers, other.manifest]) expect(stored(d)).toBe(true);
    expect((await acme.call("GET", `/v2/acme/tagdel/manifests/${img.manifest}`)).status).toBe(404);
    expect((await acme.call("GET", "/v2/acme/tagdel/manifests/v2")).status).toBe(200);
  });

  test("a manifest deleted by digest takes its layers with it", async () => {
    const img = await pushImage(acme, "acme/digdel", "digdel", "v1");
    expect((await acme.call("DELETE", `/v2/acme/digdel/manifests/${img.manifest}`)).status).toBe(202);
    await pastGrace();
    await gc();
    for (const d of [img.config, ...img.layers, img.manifest]) expect(stored(d)).toBe(false);
  });

  test("a blob shared by two organisations survives its deletion in one", async () => {
    const a = await pushImage(acme, "acme/shared", "shared", "v1");
    const g = await pushImage(globex, "globex/shared", "shared", "v1"); // the same bytes, stored once
    expect(g.layers).toEqual(a.layers);
    expect((await globex.call("DELETE", `/v2/globex/shared/manifests/${g.manifest}`)).status).toBe(202);
    await pastGrace();
    await gc();
    for (const d of a.layers) expect(stored(d)).toBe(true);
    expect((await acme.call("GET", `/v2/acme/shared/blobs/${a.layers[0]}`)).status).toBe(200);
    // globex's link went with its image: it no longer reads the blob it no longer references
    expect((await globex.call("HEAD", `/v2/globex/shared/blobs/${g.layers[0]}`)).status).toBe(404);
  });
});

describe("what manifests keep alive", () => {
  test("a referrer lives while its subject does, and goes with it", async () => {
    const img = await pushImage(acme, "acme/refs", "refs", "v1");
    const empty = new TextEncoder().encode("{}");
    const sig = seeded("refs-signature", 700);
    await acme.pushBlob("acme/refs", empty);
    await acme.pushBlob("acme/refs", sig);
    const referrer = JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.example.signature",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2 },
      layers: [{ mediaType: "application/octet-stream", digest: sha256(sig), size: sig.byteLength }],
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: img.manifest, size: 1 },
    });
    const put = await acme.putManifest("acme/refs", sha256(referrer), referrer); // by digest: untagged
    expect(put.status).toBe(201);
    await pastGrace();
    await gc();
    expect(stored(sha256(referrer))).toBe(true);
    expect(stored(sha256(sig))).toBe(true);
    const listed = (await acme.call("GET", `/v2/acme/refs/referrers/${img.manifest}`)).json();
    expect(listed.manifests.map((m: { digest: string }) => m.digest)).toEqual([sha256(referrer)]);
    expect((await acme.call("DELETE", `/v2/acme/refs/manifests/${img.manifest}`)).status).toBe(202);
    await pastGrace();
    await gc();
    expect(stored(sha256(referrer))).toBe(false);
    expect(stored(sha256(sig))).toBe(false);
    expect((await acme.call("GET", `/v2/acme/refs/referrers/${img.manifest}`)).json().manifests).toEqual([]);
  });

  test("an index's untagged children live through the tagged index", async () => {
    const amd = await pushImage(acme, "acme/multi", "multi-amd64", "amd64-tmp");
    const arm = await pushImage(acme, "acme/multi", "multi-arm64", "arm64-tmp");
    for (const t of ["amd64-tmp", "arm64-tmp"]) expect((await acme.call("DELETE", `/v2/acme/multi/manifests/${t}`)).status).toBe(202);
    const index = JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [amd, arm].map((i, n) => ({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: i.manifest, size: 1, platform: { os: "linux", architecture: n ? "arm64" : "amd64" } })),
    });
    expect((await acme.putManifest("acme/multi", "latest", index, "application/vnd.oci.image.index.v1+json")).status).toBe(201);
    await pastGrace();
    await gc();
    for (const i of [amd, arm]) for (const d of [i.manifest, i.config, ...i.layers]) expect(stored(d)).toBe(true);
    expect((await acme.call("GET", `/v2/acme/multi/manifests/${arm.manifest}`)).status).toBe(200);
  });
});

describe("abandoned uploads", () => {
  test("an upload idle past its window is removed with its data; a live one is not", async () => {
    const post = await acme.call("POST", "/v2/acme/uploads/blobs/uploads/");
    const loc = post.headers.get("location")!;
    const id = loc.split("/").pop()!;
    expect((await acme.call("PATCH", loc, { body: seeded("half", 3000), headers: { "content-type": "application/octet-stream" } })).status).toBe(202);
    expect(existsSync(join(reg.dir, "blobs", "tmp", id))).toBe(true);
    await pastGrace(); // idle window is 1 s here too
    const live = (await acme.call("POST", "/v2/acme/uploads/blobs/uploads/")).headers.get("location")!;
    const r = await gc();
    expect(r.uploadsRemoved).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(reg.dir, "blobs", "tmp", id))).toBe(false);
    expect(existsSync(join(reg.dir, "uploads", `${id}.json`))).toBe(false);
    const gone = await acme.call("GET", loc);
    expect(gone.status).toBe(404);
    expect(gone.json().errors[0].code).toBe("BLOB_UPLOAD_UNKNOWN");
    expect((await acme.call("GET", live)).status).toBe(204);
  });

  test("a temp file no session names (a monolithic upload cut by a crash) goes once idle as long", async () => {
    const leftover = join(reg.dir, "blobs", "tmp", randomUUID());
    writeFileSync(leftover, seeded("crash", 1000));
    await gc();
    expect(existsSync(leftover)).toBe(true); // just written
    const old = new Date(Date.now() - 60_000);
    utimesSync(leftover, old, old);
    expect((await gc()).uploadsRemoved).toBeGreaterThanOrEqual(1);
    expect(existsSync(leftover)).toBe(false);
  });
});
