/**
 * The OCI distribution conformance suite's checks (pull, push, content discovery, content
 * management), ported as raw HTTP against the real service. The checks are facts of the spec
 * (distribution-spec v1.1 `conformance/0{1,2,3,4}_*.go`); the wording of each test names the check.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { client, imageManifest, type Client } from "./support/http.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let c: Client;
const repo = "acme/conformance/one";
const repo2 = "acme/conformance/two";
const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
const layer = seeded("layer", 5000);
let manifestBody: string;
let manifestDigest: string;

beforeAll(async () => {
  reg = await startTestRegistry();
  c = client(reg.url, await reg.token("org-admin"));
  await c.pushBlob(repo, config);
  await c.pushBlob(repo, layer);
  manifestBody = JSON.stringify(imageManifest(config, [layer]));
  manifestDigest = sha256(manifestBody);
  expect((await c.putManifest(repo, "tagtest0", manifestBody)).status).toBe(201);
});
afterAll(() => reg.cleanup());

describe("pull", () => {
  test("GET /v2/ answers 200 with the API version header", async () => {
    const r = await c.call("GET", "/v2/");
    expect(r.status).toBe(200);
    expect(r.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
  });
  test("HEAD and GET of an existing blob: 200, Content-Length, Docker-Content-Digest, the bytes", async () => {
    const head = await c.call("HEAD", `/v2/${repo}/blobs/${sha256(layer)}`);
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(layer.byteLength));
    expect(head.headers.get("docker-content-digest")).toBe(sha256(layer));
    const get = await c.call("GET", `/v2/${repo}/blobs/${sha256(layer)}`);
    expect(get.status).toBe(200);
    expect(Buffer.compare(get.bytes, layer)).toBe(0);
  });
  test("GET of a blob with Range: 206 and exactly the range", async () => {
    const r = await c.call("GET", `/v2/${repo}/blobs/${sha256(layer)}`, { headers: { range: "bytes=100-199" } });
    expect(r.status).toBe(206);
    expect(r.headers.get("content-range")).toBe(`bytes 100-199/${layer.byteLength}`);
    expect(Buffer.compare(r.bytes, layer.subarray(100, 200))).toBe(0);
    const suffix = await c.call("GET", `/v2/${repo}/blobs/${sha256(layer)}`, { headers: { range: "bytes=-10" } });
    expect(Buffer.compare(suffix.bytes, layer.subarray(layer.byteLength - 10))).toBe(0);
    const past = await c.call("GET", `/v2/${repo}/blobs/${sha256(layer)}`, { headers: { range: "bytes=999999-" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${layer.byteLength}`);
  });
  test("HEAD and GET of a blob that does not exist: 404 BLOB_UNKNOWN", async () => {
    const missing = sha256("nothing");
    expect((await c.call("HEAD", `/v2/${repo}/blobs/${missing}`)).status).toBe(404);
    const r = await c.call("GET", `/v2/${repo}/blobs/${missing}`);
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe("BLOB_UNKNOWN");
  });
  test("GET and HEAD of a manifest by tag and by digest: the stored bytes, media type and digest", async () => {
    for (const ref of ["tagtest0", manifestDigest]) {
      const r = await c.call("GET", `/v2/${repo}/manifests/${ref}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
      expect(r.status).toBe(200);
      expect(new TextDecoder().decode(r.bytes)).toBe(manifestBody);
      expect(r.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
      expect(r.headers.get("docker-content-digest")).toBe(manifestDigest);
      const head = await c.call("HEAD", `/v2/${repo}/manifests/${ref}`);
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(manifestBody.length));
    }
  });
  test("a manifest GET whose Accept excludes the stored type is MANIFEST_UNKNOWN; */* is accepted", async () => {
    const r = await c.call("GET", `/v2/${repo}/manifests/tagtest0`, { headers: { accept: "application/vnd.docker.distribution.manifest.v1+json" } });
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe("MANIFEST_UNKNOWN");
    expect((await c.call("GET", `/v2/${repo}/manifests/tagtest0`, { headers: { accept: "*/*" } })).status).toBe(200);
  });
  test("GET of a manifest that does not exist: 404 MANIFEST_UNKNOWN in the spec's error shape", async () => {
    const r = await c.call("GET", `/v2/${repo}/manifests/nonexistent`);
    expect(r.status).toBe(404);
    const body = r.json();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].code).toBe("MANIFEST_UNKNOWN");
    expect(typeof body.errors[0].message).toBe("string");
  });
});

describe("push", () => {
  test("POST then PUT with the blob: 201, Location, Docker-Content-Digest", async () => {
    const b = seeded("mono", 3000);
    const post = await c.call("POST", `/v2/${repo}/blobs/uploads/`);
    expect(post.status).toBe(202);
    expect(post.headers.get("location")).toContain(`/v2/${repo}/blobs/uploads/`);
    const put = await c.call("PUT", `${post.headers.get("location")}?digest=${sha256(b)}`, { body: b, headers: { "content-type": "application/octet-stream" } });
    expect(put.status).toBe(201);
    expect(put.headers.get("location")).toBe(`/v2/${repo}/blobs/${sha256(b)}`);
    expect(put.headers.get("docker-content-digest")).toBe(sha256(b));
  });
  test("a single POST with ?digest= carrying the blob: 201", async () => {
    const b = seeded("single-post", 2000);
    const r = await c.call("POST", `/v2/${repo}/blobs/uploads/?digest=${sha256(b)}`, { body: b, headers: { "content-type": "application/octet-stream" } });
    expect(r.status).toBe(201);
    expect((await c.call("GET", `/v2/${repo}/blobs/${sha256(b)}`)).bytes.byteLength).toBe(2000);
  });
  test("chunked upload: PATCH with Content-Range, status GET 204 with Range, PUT closes", async () => {
    const b = seeded("chunked", 10_000);
    const post = await c.call("POST", `/v2/${repo}/blobs/uploads/`);
    let loc = post.headers.get("location")!;
    const first = await c.call("PATCH", loc, { body: b.subarray(0, 4000), headers: { "content-type": "application/octet-stream", "content-range": "0-3999", "content-length": "4000" } });
    expect(first.status).toBe(202);
    expect(first.headers.get("range")).toBe("0-3999");
    loc = first.headers.get("location")!;
    const status = await c.call("GET", loc);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-3999");
    const second = await c.call("PATCH", loc, { body: b.subarray(4000), headers: { "content-type": "application/octet-stream", "content-range": "4000-9999", "content-length": "6000" } });
    expect(second.status).toBe(202);
    expect(second.headers.get("range")).toBe("0-9999");
    const put = await c.call("PUT", `${second.headers.get("location")}?digest=${sha256(b)}`);
    expect(put.status).toBe(201);
    expect(Buffer.compare((await c.call("GET", `/v2/${repo}/blobs/${sha256(b)}`)).bytes, b)).toBe(0);
  });
  test("a chunk out of order is 416 and the upload keeps what it had", async () => {
    const b = seeded("order", 3000);
    const loc = (await c.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    await c.call("PATCH", loc, { body: b.subarray(0, 1000), headers: { "content-range": "0-999" } });
    const skip = await c.call("PATCH", loc, { body: b.subarray(2000), headers: { "content-range": "2000-2999" } });
    expect(skip.status).toBe(416);
    expect(skip.headers.get("range")).toBe("0-999");
    const again = await c.call("PATCH", loc, { body: b.subarray(0, 1000), headers: { "content-range": "0-999" } });
    expect(again.status).toBe(416);
    expect((await c.call("GET", loc)).headers.get("range")).toBe("0-999");
  });
  test("a streamed PATCH without Content-Range (as skopeo sends) then PUT ?digest=", async () => {
    const b = seeded("streamed", 50_000);
    const loc = (await c.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    const patch = await c.call("PATCH", loc, { body: b, headers: { "content-type": "application/octet-stream" } });
    expect(patch.status).toBe(202);
    expect(patch.headers.get("range")).toBe("0-49999");
    expect((await c.call("PUT", `${patch.headers.get("location")}?digest=${sha256(b)}`)).status).toBe(201);
  });
  test("cancelling an upload (DELETE) ends it: its status is then 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const loc = (await c.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    await c.call("PATCH", loc, { body: "partial" });
    expect((await c.call("DELETE", loc)).status).toBe(204);
    const st = await c.call("GET", loc);
    expect(st.status).toBe(404);
    expect(st.json().errors[0].code).toBe("BLOB_UPLOAD_UNKNOWN");
  });
  test("cross-repository mount: 201 when the source has the blob, 202 (an upload) when it does not", async () => {
    const mounted = await c.call("POST", `/v2/${repo2}/blobs/uploads/?mount=${sha256(layer)}&from=${repo}`);
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get("location")).toBe(`/v2/${repo2}/blobs/${sha256(layer)}`);
    expect((await c.call("HEAD", `/v2/${repo2}/blobs/${sha256(layer)}`)).status).toBe(200);
    const fallback = await c.call("POST", `/v2/${repo2}/blobs/uploads/?mount=${sha256("absent")}&from=${repo}`);
    expect(fallback.status).toBe(202);
    expect(fallback.headers.get("location")).toContain(`/v2/${repo2}/blobs/uploads/`);
  });
  test("manifest PUT by tag and by digest: 201 with Location and Docker-Content-Digest", async () => {
    const byTag = await c.putManifest(repo, "tagtest1", manifestBody);
    expect(byTag.status).toBe(201);
    expect(byTag.headers.get("docker-content-digest")).toBe(manifestDigest);
    expect(byTag.headers.get("location")).toBe(`/v2/${repo}/manifests/${manifestDigest}`);
    expect((await c.putManifest(repo, manifestDigest, manifestBody)).status).toBe(201);
  });
  test("an image index over pushed manifests; a Docker manifest list too", async () => {
    const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: manifestDigest, size: manifestBody.length, platform: { architecture: "amd64", os: "linux" } }] };
    const r = await c.putManifest(repo, "multi", index, "application/vnd.oci.image.index.v1+json");
    expect(r.status).toBe(201);
    const got = await c.call("GET", `/v2/${repo}/manifests/multi`);
    expect(got.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    const list = { ...index, mediaType: "application/vnd.docker.distribution.manifest.list.v2+json" };
    expect((await c.putManifest(repo, "dockerlist", list, "application/vnd.docker.distribution.manifest.list.v2+json")).status).toBe(201);
  });
  test("a manifest with a subject answers OCI-Subject, even when the subject does not exist", async () => {
    const absent = sha256("no such manifest");
    const m = imageManifest(config, [layer], { subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: absent, size: 10 } });
    const r = await c.putManifest(repo, sha256(JSON.stringify(m)), m);
    expect(r.status).toBe(201);
    expect(r.headers.get("oci-subject")).toBe(absent);
  });
});

describe("content discovery", () => {
  const tagsRepo = "acme/conformance/tags";
  beforeAll(async () => {
    await c.pushBlob(tagsRepo, config);
    await c.pushBlob(tagsRepo, layer);
    for (const t of ["d", "a", "c", "b", "e"]) expect((await c.putManifest(tagsRepo, t, manifestBody)).status).toBe(201);
  });
  test("tags list: every tag in lexical order", async () => {
    const r = await c.call("GET", `/v2/${tagsRepo}/tags/list`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ name: tagsRepo, tags: ["a", "b", "c", "d", "e"] });
  });
  test("tags list with n and last, and a Link to the next page", async () => {
    const first = await c.call("GET", `/v2/${tagsRepo}/tags/list?n=2`);
    expect(first.json().tags).toEqual(["a", "b"]);
    expect(first.headers.get("link")).toBe(`</v2/${tagsRepo}/tags/list?n=2&last=b>; rel="next"`);
    const next = await c.call("GET", `/v2/${tagsRepo}/tags/list?n=2&last=b`);
    expect(next.json().tags).toEqual(["c", "d"]);
    const rest = await c.call("GET", `/v2/${tagsRepo}/tags/list?n=5&last=d`);
    expect(rest.json().tags).toEqual(["e"]);
    expect(rest.headers.get("link")).toBeNull();
    expect((await c.call("GET", `/v2/${tagsRepo}/tags/list?n=0`)).json().tags).toEqual([]);
  });
  test("tags list of a repository that does not exist: 404 NAME_UNKNOWN", async () => {
    const r = await c.call("GET", "/v2/acme/never/pushed/tags/list");
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe("NAME_UNKNOWN");
  });
  test("referrers: an image index of the manifests whose subject it is, filtered by artifactType", async () => {
    const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: manifestDigest, size: manifestBody.length };
    const empty = new TextEncoder().encode("{}");
    await c.pushBlob(repo, empty);
    const sig = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.example.signature", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2 }, layers: [], subject, annotations: { "org.example.kind": "sig" } };
    const sbom = { ...sig, artifactType: undefined, config: { mediaType: "application/vnd.example.sbom", digest: sha256(empty), size: 2 }, annotations: undefined };
    const sigR = await c.putManifest(repo, sha256(JSON.stringify(sig)), sig);
    await c.putManifest(repo, sha256(JSON.stringify(sbom)), sbom);
    expect(sigR.headers.get("oci-subject")).toBe(manifestDigest);
    const all = await c.call("GET", `/v2/${repo}/referrers/${manifestDigest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    const idx = all.json();
    expect(idx.schemaVersion).toBe(2);
    expect(idx.manifests.map((m: any) => m.artifactType).sort()).toEqual(["application/vnd.example.sbom", "application/vnd.example.signature"]);
    expect(idx.manifests.find((m: any) => m.artifactType === "application/vnd.example.signature").annotations).toEqual({ "org.example.kind": "sig" });
    const filtered = await c.call("GET", `/v2/${repo}/referrers/${manifestDigest}?artifactType=application/vnd.example.sbom`);
    expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(filtered.json().manifests).toHaveLength(1);
    expect(filtered.json().manifests[0].digest).toBe(sha256(JSON.stringify(sbom)));
  });
  test("referrers of a digest nothing refers to: 200 and an empty list, never 404", async () => {
    const r = await c.call("GET", `/v2/${repo}/referrers/${sha256("lonely")}`);
    expect(r.status).toBe(200);
    expect(r.json().manifests).toEqual([]);
  });
});

describe("content management", () => {
  const mgmt = "acme/conformance/mgmt";
  beforeAll(async () => {
    await c.pushBlob(mgmt, config);
    await c.pushBlob(mgmt, layer);
    await c.putManifest(mgmt, "keep", manifestBody);
    await c.putManifest(mgmt, "drop", manifestBody);
  });
  test("DELETE of a tag: 202; the tag is gone, the manifest stays", async () => {
    expect((await c.call("DELETE", `/v2/${mgmt}/manifests/drop`)).status).toBe(202);
    expect((await c.call("GET", `/v2/${mgmt}/manifests/drop`)).status).toBe(404);
    expect((await c.call("GET", `/v2/${mgmt}/manifests/${manifestDigest}`)).status).toBe(200);
  });
  test("DELETE of a manifest by digest: 202; it and its tags are gone; a second DELETE is 404", async () => {
    expect((await c.call("DELETE", `/v2/${mgmt}/manifests/${manifestDigest}`)).status).toBe(202);
    expect((await c.call("GET", `/v2/${mgmt}/manifests/${manifestDigest}`)).status).toBe(404);
    expect((await c.call("GET", `/v2/${mgmt}/manifests/keep`)).status).toBe(404);
    expect((await c.call("GET", `/v2/${mgmt}/tags/list`)).json().tags).toEqual([]);
    expect((await c.call("DELETE", `/v2/${mgmt}/manifests/${manifestDigest}`)).status).toBe(404);
  });
  test("DELETE of a blob: 202; then 404 here while other repositories keep it", async () => {
    expect((await c.call("DELETE", `/v2/${mgmt}/blobs/${sha256(layer)}`)).status).toBe(202);
    expect((await c.call("GET", `/v2/${mgmt}/blobs/${sha256(layer)}`)).status).toBe(404);
    expect((await c.call("GET", `/v2/${repo}/blobs/${sha256(layer)}`)).status).toBe(200);
    expect((await c.call("DELETE", `/v2/${mgmt}/blobs/${sha256(layer)}`)).status).toBe(404);
  });
});
