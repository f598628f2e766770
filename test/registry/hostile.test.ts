/**
 * Bad input against the real registry: forged and missing credentials, other organisations, wrong
 * digests, missing blobs, oversized and malformed manifests, bad names and tags, traversal (plain and
 * percent-encoded), out-of-order and interrupted uploads. Each gets the spec's error and loses or
 * leaks nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { client, imageManifest, type Client } from "./support/http.ts";
import { rawRequest } from "./support/raw.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let acme: Client;
const repo = "acme/app";
const config = new TextEncoder().encode('{"os":"linux"}');
const layer = seeded("hostile-layer", 4096);
const code = (r: { json(): any }) => r.json().errors[0].code;
const storedPath = (digest: string) => join(reg.dir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7));
const tmpFiles = () => readdirSync(join(reg.dir, "blobs", "tmp"));

beforeAll(async () => {
  reg = await startTestRegistry();
  acme = client(reg.url, await reg.token("org-admin", "acme"));
  await acme.pushBlob(repo, config);
  await acme.pushBlob(repo, layer);
  expect((await acme.putManifest(repo, "v1", imageManifest(config, [layer]))).status).toBe(201);
});
afterAll(() => reg.cleanup());

describe("credentials and organisations", () => {
  test("no token: 401 UNAUTHORIZED with a Bearer challenge naming the realm, service and scope", async () => {
    const base = await client(reg.url).call("GET", "/v2/");
    expect(base.status).toBe(401);
    expect(base.headers.get("www-authenticate")).toBe(`Bearer realm="${reg.url}/v2/token",service="nimbus-registry"`);
    const push = await client(reg.url).call("POST", `/v2/${repo}/blobs/uploads/`);
    expect(push.status).toBe(401);
    expect(code(push)).toBe("UNAUTHORIZED");
    expect(push.headers.get("www-authenticate")).toContain(`scope="repository:${repo}:pull,push"`);
  });
  test("a forged token (wrong key) is 401", async () => {
    const forged = (await reg.token("org-admin", "acme")).replace(/.{6}$/, "AAAAAA");
    expect((await client(reg.url, forged).call("GET", `/v2/${repo}/manifests/v1`)).status).toBe(401);
  });
  test("a viewer pulls but may not push or delete (403 DENIED); an agent token (no org) sees no repository", async () => {
    const viewer = client(reg.url, await reg.token("viewer", "acme"));
    expect((await viewer.call("GET", `/v2/${repo}/manifests/v1`)).status).toBe(200);
    const push = await viewer.call("POST", `/v2/${repo}/blobs/uploads/`);
    expect(push.status).toBe(403);
    expect(code(push)).toBe("DENIED");
    expect((await viewer.call("DELETE", `/v2/${repo}/manifests/v1`)).status).toBe(403);
    const member = client(reg.url, await reg.token("member", "acme"));
    expect((await member.call("DELETE", `/v2/${repo}/manifests/v1`)).status).toBe(403);
    const agent = client(reg.url, await reg.token("agent", null));
    expect((await agent.call("GET", `/v2/${repo}/manifests/v1`)).status).toBe(404);
    expect((await acme.call("GET", `/v2/${repo}/manifests/v1`)).status).toBe(200);
  });
  test("another org's token sees NAME_UNKNOWN, for reads and writes alike", async () => {
    const globex = client(reg.url, await reg.token("org-admin", "globex"));
    for (const [m, p] of [["GET", `/v2/${repo}/manifests/v1`], ["GET", `/v2/${repo}/blobs/${sha256(layer)}`], ["GET", `/v2/${repo}/tags/list`], ["POST", `/v2/${repo}/blobs/uploads/`], ["DELETE", `/v2/${repo}/manifests/v1`]] as const) {
      const r = await globex.call(m, p);
      expect(r.status).toBe(404);
      expect(code(r)).toBe("NAME_UNKNOWN");
    }
    expect((await acme.call("GET", `/v2/${repo}/manifests/v1`)).status).toBe(200);
  });
  test("a digest stored for org A is not readable from org B until B uploads it; the bytes are stored once", async () => {
    const globex = client(reg.url, await reg.token("org-admin", "globex"));
    expect((await globex.call("GET", `/v2/globex/app/blobs/${sha256(layer)}`)).status).toBe(404);
    expect((await globex.putManifest("globex/app", "v1", imageManifest(config, [layer]))).status).toBe(400);
    await globex.pushBlob("globex/app", layer);
    expect((await globex.call("GET", `/v2/globex/app/blobs/${sha256(layer)}`)).status).toBe(200);
    expect(existsSync(storedPath(sha256(layer)))).toBe(true);
    expect(readdirSync(join(reg.dir, "blobs", "sha256", sha256(layer).slice(7, 9))).filter((n) => n === sha256(layer).slice(7))).toHaveLength(1);
  });
  test("a mount from another org is refused: 202 (an upload), and nothing is linked", async () => {
    const secret = seeded("acme-only", 777);
    await acme.pushBlob(repo, secret);
    const globex = client(reg.url, await reg.token("org-admin", "globex"));
    const r = await globex.call("POST", `/v2/globex/app/blobs/uploads/?mount=${sha256(secret)}&from=${repo}`);
    expect(r.status).toBe(202);
    expect(r.headers.get("location")).toContain("/v2/globex/app/blobs/uploads/");
    expect((await globex.call("HEAD", `/v2/globex/app/blobs/${sha256(secret)}`)).status).toBe(404);
  });
  test("a mount naming a source repository the caller may see but which lacks the blob: 202", async () => {
    const r = await acme.call("POST", `/v2/acme/other/blobs/uploads/?mount=${sha256("never")}&from=${repo}`);
    expect(r.status).toBe(202);
  });
});

describe("digests and manifests", () => {
  test("a closing PUT with the wrong digest: 400 DIGEST_INVALID, nothing stored, the upload gone", async () => {
    const b = seeded("wrong-digest", 1000);
    const loc = (await acme.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    await acme.call("PATCH", loc, { body: b });
    const wrong = sha256("something else");
    const r = await acme.call("PUT", `${loc}?digest=${wrong}`);
    expect(r.status).toBe(400);
    expect(code(r)).toBe("DIGEST_INVALID");
    expect(existsSync(storedPath(sha256(b)))).toBe(false);
    expect(existsSync(storedPath(wrong))).toBe(false);
    expect((await acme.call("HEAD", `/v2/${repo}/blobs/${wrong}`)).status).toBe(404);
    expect((await acme.call("GET", loc)).status).toBe(404);
  });
  test("a monolithic POST with the wrong digest: DIGEST_INVALID and no temp file left", async () => {
    const before = tmpFiles().length;
    const r = await acme.call("POST", `/v2/${repo}/blobs/uploads/?digest=${sha256("other")}`, { body: seeded("mono-wrong", 500) });
    expect(r.status).toBe(400);
    expect(code(r)).toBe("DIGEST_INVALID");
    expect(tmpFiles().length).toBe(before);
  });
  test("malformed and unsupported digests", async () => {
    expect(code(await acme.call("GET", `/v2/${repo}/blobs/sha256:xyz`))).toBe("DIGEST_INVALID");
    expect(code(await acme.call("GET", `/v2/${repo}/blobs/sha512:${"a".repeat(128)}`))).toBe("UNSUPPORTED");
    expect(code(await acme.call("PUT", `${(await acme.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")}?digest=nope`))).toBe("DIGEST_INVALID");
  });
  test("a manifest naming blobs the repository lacks: 400 MANIFEST_BLOB_UNKNOWN, nothing tagged", async () => {
    const r = await acme.putManifest(repo, "broken", imageManifest(config, [seeded("never-pushed", 10)]));
    expect(r.status).toBe(400);
    expect(code(r)).toBe("MANIFEST_BLOB_UNKNOWN");
    expect((await acme.call("GET", `/v2/${repo}/manifests/broken`)).status).toBe(404);
    const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256("none"), size: 3 }] };
    expect(code(await acme.putManifest(repo, "idx", index, "application/vnd.oci.image.index.v1+json"))).toBe("MANIFEST_BLOB_UNKNOWN");
  });
  test("malformed manifests: MANIFEST_INVALID", async () => {
    expect(code(await acme.putManifest(repo, "bad", "{not json"))).toBe("MANIFEST_INVALID");
    expect(code(await acme.putManifest(repo, "bad", { schemaVersion: 1 }))).toBe("MANIFEST_INVALID");
    expect(code(await acme.putManifest(repo, "bad", { ...imageManifest(config, [layer]), layers: [{ digest: "../../etc", size: 1 }] }))).toBe("MANIFEST_INVALID");
    expect(code(await acme.putManifest(repo, "bad", imageManifest(config, [layer]), "application/vnd.oci.image.index.v1+json"))).toBe("MANIFEST_INVALID");
  });
  test("a manifest PUT by a digest its bytes do not have: DIGEST_INVALID", async () => {
    expect(code(await acme.putManifest(repo, sha256("x"), imageManifest(config, [layer])))).toBe("DIGEST_INVALID");
  });
  test("a manifest over the limit: 413, declared or chunked, and nothing stored", async () => {
    const big = JSON.stringify({ ...imageManifest(config, [layer]), annotations: { pad: "x".repeat(4 * 1024 * 1024) } });
    const declared = await acme.putManifest(repo, "huge", big);
    expect(declared.status).toBe(413);
    expect(code(declared)).toBe("SIZE_INVALID");
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < bytes.length; i += 65536) ctl.enqueue(bytes.subarray(i, i + 65536));
        ctl.close();
      },
    });
    const chunked = await acme.call("PUT", `/v2/${repo}/manifests/huge`, { body: stream, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
    expect(chunked.status).toBe(413);
    expect((await acme.call("GET", `/v2/${repo}/manifests/huge`)).status).toBe(404);
    expect(existsSync(storedPath(sha256(big)))).toBe(false);
  });
  test("a manifest of exactly the limit's size is accepted (4 MiB)", async () => {
    const m = imageManifest(config, [layer]);
    const base = JSON.stringify({ ...m, annotations: { pad: "" } });
    const body = JSON.stringify({ ...m, annotations: { pad: "x".repeat(4 * 1024 * 1024 - base.length) } });
    expect(body.length).toBe(4 * 1024 * 1024);
    expect((await acme.putManifest(repo, "big", body)).status).toBe(201);
  });
});

describe("names, tags and traversal", () => {
  test("bad names: NAME_INVALID", async () => {
    for (const name of ["ACME/app", "lonely", "acme//app", "acme/-app", "acme/app_", `acme/${"a".repeat(260)}`, "acme/.hidden"]) {
      const r = await acme.call("GET", `/v2/${name}/tags/list`);
      expect([r.status, name]).toEqual([400, name]);
      expect(code(r)).toBe("NAME_INVALID");
    }
  });
  test("bad tags: NAME_INVALID", async () => {
    for (const tag of ["-bad", ".hidden", "a".repeat(129), "sp%20ace"]) {
      const r = await acme.putManifest(repo, tag, imageManifest(config, [layer]));
      expect([r.status, tag]).toEqual([400, tag]);
      expect(code(r)).toBe("NAME_INVALID");
    }
  });
  test("`..` and encoded traversal never reach a path outside the store", async () => {
    const probes = [
      `GET /v2/acme/../../../etc/passwd/blobs/${sha256(layer)} HTTP/1.1`,
      `GET /v2/acme/%2e%2e/%2e%2e/etc/tags/list HTTP/1.1`,
      `GET /v2/acme/app%2f..%2f..%2fx/tags/list HTTP/1.1`,
      `PUT /v2/acme/app/manifests/..%2f..%2f..%2fescape HTTP/1.1\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 2`,
      `PATCH /v2/acme/app/blobs/uploads/..%2f..%2f..%2fescape HTTP/1.1\r\nContent-Length: 2`,
      `GET /v2/acme/app/blobs/uploads/%2e%2e HTTP/1.1`,
      `GET /v2/acme/app/manifests/%2e%2e HTTP/1.1`,
    ];
    const token = await reg.token("operator");
    for (const p of probes) {
      const [line, ...rest] = p.split("\r\n");
      const head = [line, `Authorization: Bearer ${token}`, ...rest].join("\r\n");
      const r = await rawRequest(reg.hostPort, head, p.includes("Content-Length: 2") ? "{}" : "");
      expect([r.status >= 400 && r.status < 500, p]).toEqual([true, p]);
    }
    expect(existsSync(join(reg.dir, "..", "escape"))).toBe(false);
    expect(readdirSync(reg.dir).sort()).toEqual(["blobs", "repos", "uploads"]);
    expect(readdirSync(join(reg.dir, "repos")).sort()).toEqual(["acme", "globex"]);
  });
  test("another repository's upload id is unknown here", async () => {
    const loc = (await acme.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    const id = loc.split("/").pop();
    const r = await acme.call("PATCH", `/v2/acme/other/blobs/uploads/${id}`, { body: "x" });
    expect(r.status).toBe(404);
    expect(code(r)).toBe("BLOB_UPLOAD_UNKNOWN");
  });
});

describe("interrupted and disordered uploads", () => {
  test("a PATCH cut off mid-body adds nothing: the upload stays where it was", async () => {
    const loc = (await acme.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    await acme.call("PATCH", loc, { body: seeded("first", 100), headers: { "content-range": "0-99" } });
    const token = await reg.token("org-admin", "acme");
    await rawRequest(reg.hostPort, `PATCH ${loc} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nContent-Range: 100-100099\r\nContent-Length: 100000`, seeded("cut", 3000), true);
    let range = "";
    for (let i = 0; i < 100 && range !== "0-99"; i++) {
      range = (await acme.call("GET", loc)).headers.get("range") ?? "";
      if (range !== "0-99") await Bun.sleep(20);
    }
    expect(range).toBe("0-99");
  });
  test("a monolithic upload cut off mid-body leaves no blob and no temp file", async () => {
    const b = seeded("cut-mono", 100_000);
    const token = await reg.token("org-admin", "acme");
    const before = tmpFiles().length;
    await rawRequest(reg.hostPort, `POST /v2/${repo}/blobs/uploads/?digest=${sha256(b)} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${b.length}`, b.subarray(0, 5000), true);
    let left = -1;
    for (let i = 0; i < 100 && left !== before; i++) {
      left = tmpFiles().length;
      if (left !== before) await Bun.sleep(20);
    }
    expect(left).toBe(before);
    expect(existsSync(storedPath(sha256(b)))).toBe(false);
    expect((await acme.call("HEAD", `/v2/${repo}/blobs/${sha256(b)}`)).status).toBe(404);
  });
  test("a chunk whose Content-Length disagrees with its Content-Range is refused and adds nothing", async () => {
    const loc = (await acme.call("POST", `/v2/${repo}/blobs/uploads/`)).headers.get("location")!;
    const r = await acme.call("PATCH", loc, { body: seeded("mismatch", 50), headers: { "content-range": "0-99" } });
    expect(r.status).toBe(400);
    expect(code(r)).toBe("SIZE_INVALID");
    expect((await acme.call("GET", loc)).headers.get("range")).toBe("0-0");
    expect((await acme.call("GET", loc)).status).toBe(204);
  });
});
