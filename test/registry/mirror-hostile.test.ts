/**
 * The mirror under hostile input and hostile upstreams: traversal and malformed mirror names,
 * unknown upstreams, pushes and deletes (refused whoever asks), replayed and cross-repository
 * tokens, another org's content not reachable through mirror names; an upstream (docker-registry,
 * its storage corrupted) serving bytes that do not match their digest, one that stalls (SIGSTOP),
 * and one that stops mid-body or sends an oversized manifest (a small server of the test's own).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { makeLayout, type Layout } from "./support/layout.ts";
import { rawRequest } from "./support/raw.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";
import { client } from "./support/http.ts";
import { pushToUpstream, run, startUpstream, tempFiles, type Upstream } from "./mirror-support.ts";

let up: Upstream;
let reg: TestRegistry;
let a: Layout;
let member: string;
let operator: string;
let fake: ReturnType<typeof Bun.serve>;
/** Answers every request with a 4 GiB Content-Length, sends 10 bytes, then nothing (Bun.serve would not send that header for a stream). */
let liar: Server;

/** Bytes the fake upstream promises but never finishes sending. */
const STALLED = seeded("stalled", 1_000_000);
const STALLED_DIGEST = sha256(STALLED);
/** A tag the fake upstream serves, then moves (HEAD) while failing its GET (stage 1), then drops (stage 2). */
const FLAKY = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256("{}"), size: 2 }, layers: [] });
let flakyStage = 0;
const HUGE_DIGEST = sha256("a blob said to be 4 GiB");
/** A blob the `cdn` upstream redirects to another origin for, as Docker Hub does. */
const CDN_BLOB = seeded("cdn", 70_000);
const CDN_DIGEST = sha256(CDN_BLOB);
const CDN_AUTH = `Basic ${Buffer.from("bot:cdn-upstream-password-42").toString("base64")}`;
let cdn: ReturnType<typeof Bun.serve>;
/** Authorization headers the CDN origin saw (it must see none). */
const cdnSawAuth: string[] = [];

function startCdn() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      const auth = req.headers.get("authorization");
      if (url.pathname.startsWith("/cdn/")) {
        if (auth) cdnSawAuth.push(auth);
        return new Response(CDN_BLOB as Uint8Array<ArrayBuffer>);
      }
      if (auth !== CDN_AUTH) return new Response("{}", { status: 401, headers: { "www-authenticate": 'Basic realm="cdn"' } });
      if (url.pathname === `/v2/x/blobs/${CDN_DIGEST}`) return Response.redirect(`http://localhost:${url.port}/cdn/${CDN_DIGEST}?sig=abc`, 307);
      return new Response("{}", { status: 404 });
    },
  });
}
const stats = (name: string) => reg.running.deps.mirror!.stats.of(name);

function startFake() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/v2/") return new Response("{}");
      if (path === `/v2/x/blobs/${STALLED_DIGEST}`) {
        let sent = false;
        const body = new ReadableStream({
          pull(c) {
            if (sent) return new Promise(() => {}); // never another byte
            sent = true;
            c.enqueue(STALLED.subarray(0, 100_000));
          },
        });
        return new Response(body, { headers: { "content-length": String(STALLED.byteLength) } });
      }
      if (path === "/v2/x/manifests/flaky") {
        const type = { "content-type": "application/vnd.oci.image.manifest.v1+json" };
        if (flakyStage === 0) return new Response(req.method === "HEAD" ? null : FLAKY, { headers: { ...type, "docker-content-digest": sha256(FLAKY) } });
        if (flakyStage === 1) return req.method === "HEAD" ? new Response(null, { headers: { ...type, "docker-content-digest": `sha256:${"1".repeat(64)}` } }) : new Response("{}", { status: 500 });
        return new Response(null, { status: 404 });
      }
      if (path === "/v2/x/manifests/huge")
        return new Response(new Uint8Array(5 * 1024 * 1024), { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
      if (path === "/v2/x/manifests/junk") return new Response("not json", { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
      if (path === "/v2/x/manifests/down") return new Response("{}", { status: 500 });
      return new Response(JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "no" }] }), { status: 404 });
    },
  });
}

beforeAll(async () => {
  up = await startUpstream();
  fake = startFake();
  cdn = startCdn();
  const creds = `${up.dir}/mirror-credentials.json`;
  writeFileSync(creds, JSON.stringify({ cdn: { username: "bot", password: "cdn-upstream-password-42" } }));
  liar = createServer((sock) => {
    sock.on("error", () => {});
    sock.once("data", () => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${4 * 1024 ** 3}\r\nContent-Type: application/octet-stream\r\n\r\n0123456789`));
  });
  await new Promise<void>((r) => liar.listen(0, "127.0.0.1", () => r()));
  const liarPort = (liar.address() as { port: number }).port;
  a = makeLayout("mirror-hostile", [200_000, 10_000]);
  await pushToUpstream(up, a.dir, "v1", "team/tool:v1");
  await pushToUpstream(up, a.dir, "v1", "team/fresh:v1");
  reg = await startTestRegistry({ mirror: { upstreams: `local=${up.url},fake=http://127.0.0.1:${fake.port},liar=http://127.0.0.1:${liarPort},cdn=http://127.0.0.1:${cdn.port}`, upstreamCredentialsFile: creds, mirrorTimeoutSeconds: 1, mirrorTagTtlSeconds: 0 } });
  member = await reg.token("member", "acme");
  operator = await reg.token("operator");
});
afterAll(async () => {
  await reg?.cleanup();
  await up?.cleanup();
  fake?.stop(true);
  liar?.close();
  cdn?.stop(true);
  if (a) rmSync(a.dir, { recursive: true, force: true });
});

const as = (token: string) => client(reg.url, token);
const errorOf = (r: { json(): any }) => r.json().errors[0];
const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };

describe("names", () => {
  test("traversal and malformed mirror names are NAME_INVALID before anything is asked upstream", async () => {
    for (const path of ["/v2/mirror/local/..%2facme/app/manifests/v1", "/v2/mirror/local/%2e%2e/manifests/v1", "/v2/mirror/local/manifests/v1", "/v2/mirror/Local/x/manifests/v1"]) {
      const r = await as(member).call("GET", path);
      expect(r.status).toBe(400);
      expect(errorOf(r).code).toBe("NAME_INVALID");
    }
    // Raw dot segments (fetch would normalise them away) are resolved by the server before routing:
    // what is left is an ordinary name under the ordinary checks, here another org's.
    const raw = await rawRequest(reg.hostPort, `GET /v2/mirror/local/../../globex/app/manifests/v1 HTTP/1.1\r\nAuthorization: Bearer ${member}`);
    expect(raw.status).toBe(404);
    expect(raw.text).toContain("NAME_UNKNOWN");
    const long = await as(member).call("GET", `/v2/mirror/local/${"a".repeat(260)}/manifests/v1`);
    expect(long.status).toBe(400);
    expect(errorOf(long).code).toBe("NAME_INVALID");
  });

  test("an upstream that is not configured is NAME_UNKNOWN; without a default upstream library/ is an organisation's", async () => {
    const r = await as(member).call("GET", "/v2/mirror/nowhere/team/tool/manifests/v1", { headers: accept });
    expect(r.status).toBe(404);
    expect(errorOf(r).code).toBe("NAME_UNKNOWN");
    expect(errorOf(r).message).toContain("mirror/nowhere/team/tool");
    const lib = await as(member).call("GET", "/v2/library/app/manifests/v1", { headers: accept });
    expect(lib.status).toBe(404);
    expect(errorOf(lib).code).toBe("NAME_UNKNOWN"); // org "library" is not acme's
  });

  test("another org's repository is not reachable through a mirror name, nor its blobs by digest", async () => {
    const acme = as(member);
    const secret = seeded("acme-secret", 5000);
    await acme.pushBlob("acme/secret", secret);
    const r = await acme.call("GET", `/v2/mirror/local/acme/secret/blobs/${sha256(secret)}`);
    expect(r.status).toBe(404);
    expect(errorOf(r).code).toBe("BLOB_UNKNOWN");
    expect(errorOf(r).message).toContain("upstream local has no such blob");
    // Even a blob the store holds is linked into a mirror repository only when the upstream has it.
    const again = await as(await reg.token("member", "globex")).call("GET", `/v2/mirror/local/team/tool/blobs/${sha256(secret)}`);
    expect(again.status).toBe(404);
  });
});

describe("credentials", () => {
  test("a forged, garbage or expired credential on a mirror name is a 401 with a challenge", async () => {
    const [h, p] = member.split(".");
    const forged = `${h}.${p}.${"A".repeat(43)}`;
    for (const bad of [forged, "garbage", "x".repeat(9000)]) {
      const r = await as(bad).call("GET", "/v2/mirror/local/team/tool/manifests/v1", { headers: accept });
      expect(r.status).toBe(401);
      expect(errorOf(r).code).toBe("UNAUTHORIZED");
      expect(r.headers.get("www-authenticate")).toContain('scope="repository:mirror/local/team/tool:pull"');
    }
    expect(stats("local").manifest_miss).toBe(0); // nothing was asked upstream
  });
});

describe("the mirror is read-only", () => {
  test("uploads, manifest pushes and deletes are DENIED, for an operator too", async () => {
    for (const token of [member, operator]) {
      const c = as(token);
      const post = await c.call("POST", "/v2/mirror/local/team/tool/blobs/uploads/");
      expect(post.status).toBe(403);
      expect(errorOf(post).code).toBe("DENIED");
      const put = await c.putManifest("mirror/local/team/tool", "v9", { schemaVersion: 2 });
      expect(put.status).toBe(403);
      const del = await c.call("DELETE", `/v2/mirror/local/team/tool/manifests/${a.manifestDigest}`);
      expect(del.status).toBe(403);
      expect(errorOf(del).code).toBe("DENIED");
    }
    const anon = await client(reg.url).call("POST", "/v2/mirror/local/team/tool/blobs/uploads/");
    expect(anon.status).toBe(401);
  });

  test("skopeo cannot push into mirror/", async () => {
    const r = await run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", `ci:${operator}`, `oci:${a.dir}:v1`, `docker://${reg.hostPort}/mirror/local/team/pushed:v1`]);
    expect(r.code).not.toBe(0);
    expect(r.err.toLowerCase()).toContain("denied");
  });

  test("the token endpoint grants pull only on mirror names, and a token is good for its own repository alone", async () => {
    const t = await fetch(`${reg.url}/v2/token?service=nimbus-registry&scope=repository:mirror/local/team/tool:pull,push,delete`, {
      headers: { authorization: `Basic ${Buffer.from(`ci:${operator}`).toString("base64")}` },
    });
    const body = await t.json();
    expect(body.scope).toBe("repository:mirror/local/team/tool:pull");
    const ok = await as(body.token).call("GET", "/v2/mirror/local/team/tool/manifests/v1", { headers: accept });
    expect(ok.status).toBe(200);
    const replayed = await as(body.token).call("GET", "/v2/mirror/local/team/other/manifests/v1", { headers: accept });
    expect(replayed.status).toBe(401);
    expect(replayed.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
  });
});

describe("hostile upstreams", () => {
  test("a blob whose upstream bytes do not match its digest: the client gets an error, nothing is stored", async () => {
    const layer = a.layers[0]!;
    const path = up.blobPath(layer);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    writeFileSync(path, bad);
    try {
      const res = await fetch(`${reg.url}/v2/mirror/local/team/tool/blobs/${layer}`, { headers: { authorization: `Bearer ${member}` } });
      expect(res.status).toBe(200); // streamed: the head went out before the end was checked
      const got = await res.arrayBuffer().then((b) => Buffer.from(b), () => null);
      if (got) expect(got.byteLength).toBeLessThan(good.byteLength); // never the whole wrong body
      expect(await reg.running.deps.blobs.stat(layer as `sha256:${string}`)).toBeNull();
      expect(await reg.running.deps.repos.blob("mirror/local/team/tool", layer as `sha256:${string}`)).toBeNull();
      expect(tempFiles(reg.dir)).toEqual([]);
      expect(stats("local").digest_mismatch).toBe(1);
    } finally {
      writeFileSync(path, good);
    }
    const res = await fetch(`${reg.url}/v2/mirror/local/team/tool/blobs/${layer}`, { headers: { authorization: `Bearer ${member}` } });
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), good)).toBe(0);
  });

  test("a manifest whose upstream bytes do not match the digest asked for is UNAVAILABLE (502), not stored", async () => {
    const path = up.blobPath(a.manifestDigest);
    const good = readFileSync(path);
    writeFileSync(path, good.toString().replace('"schemaVersion":2', '"schemaVersion": 2'));
    try {
      const r = await as(member).call("GET", `/v2/mirror/local/team/fresh/manifests/${a.manifestDigest}`, { headers: accept });
      expect(r.status).toBe(502);
      expect(errorOf(r).code).toBe("UNAVAILABLE");
      expect(errorOf(r).message).toContain("nothing was stored");
      expect(await reg.running.deps.repos.manifest("mirror/local/team/fresh", a.manifestDigest as `sha256:${string}`)).toBeNull();
    } finally {
      writeFileSync(path, good);
    }
  });

  test("an upstream that stalls before answering: a tag never seen is UNAVAILABLE (503) after the timeout", async () => {
    up.pause();
    try {
      const r = await as(member).call("GET", "/v2/mirror/local/team/tool/manifests/v2", { headers: accept });
      expect(r.status).toBe(503);
      expect(errorOf(r).message).toContain("upstream local is unreachable: no answer within 1 s");
    } finally {
      up.resume();
    }
  });

  test("an upstream that stops mid-body: the client's stream breaks, nothing is stored, the next pull asks again", async () => {
    const warnings: string[] = [];
    const log = reg.running.deps.log;
    reg.running.deps.log = { ...log, warn: (msg, fields) => void warnings.push(`${msg} ${JSON.stringify(fields)}`) };
    const res = await fetch(`${reg.url}/v2/mirror/fake/x/blobs/${STALLED_DIGEST}`, { headers: { authorization: `Bearer ${member}` } });
    expect(res.status).toBe(200);
    const got = await res.arrayBuffer().then((b) => b.byteLength, () => -1);
    expect(got).toBeLessThan(STALLED.byteLength);
    expect(await reg.running.deps.blobs.stat(STALLED_DIGEST as `sha256:${string}`)).toBeNull();
    expect(tempFiles(reg.dir)).toEqual([]);
    expect(reg.running.deps.mirror!.fetches.size).toBe(0);
    expect(stats("fake").upstream_error).toBeGreaterThanOrEqual(1);
    const misses = stats("fake").blob_miss;
    const again = await fetch(`${reg.url}/v2/mirror/fake/x/blobs/${STALLED_DIGEST}`, { headers: { authorization: `Bearer ${member}` } });
    expect(await again.arrayBuffer().then((b) => b.byteLength, () => -1)).toBeLessThan(STALLED.byteLength);
    expect(stats("fake").blob_miss).toBe(misses + 1); // a failed fetch is not remembered: asked again
    reg.running.deps.log = log;
    expect(warnings.join("\n")).toContain("upstream fake is unreachable: its body stalled for 1 s");
  });

  test("a redirect to another origin (a CDN) is followed without the upstream's credentials", async () => {
    const r = await as(member).call("GET", `/v2/mirror/cdn/x/blobs/${CDN_DIGEST}`);
    expect(r.status).toBe(200);
    expect(Buffer.compare(Buffer.from(r.bytes), Buffer.from(CDN_BLOB))).toBe(0);
    expect(cdnSawAuth).toEqual([]);
    expect(await reg.running.deps.blobs.stat(CDN_DIGEST as `sha256:${string}`)).not.toBeNull();
  });

  test("a tag moved upstream whose new manifest fails to come is served stale; a tag gone upstream is gone", async () => {
    const digestOf = async () => {
      const r = await as(member).call("GET", "/v2/mirror/fake/x/manifests/flaky", { headers: accept });
      return r.status === 200 ? r.headers.get("docker-content-digest") : r.status;
    };
    flakyStage = 0;
    expect(await digestOf()).toBe(sha256(FLAKY));
    flakyStage = 1;
    const stale = stats("fake").manifest_stale;
    expect(await digestOf()).toBe(sha256(FLAKY));
    expect(stats("fake").manifest_stale).toBe(stale + 1);
    flakyStage = 2;
    expect(await digestOf()).toBe(404);
    expect(await reg.running.deps.repos.tagRecord("mirror/fake/x", "flaky")).toBeNull();
  });

  test("a blob the upstream declares larger than the blob limit is refused before a byte is stored", async () => {
    const r = await as(member).call("GET", `/v2/mirror/liar/x/blobs/${HUGE_DIGEST}`);
    expect(r.status).toBe(502);
    expect(errorOf(r).message).toContain("over the limit of 1073741824");
    expect(tempFiles(reg.dir)).toEqual([]);
  });

  test("an oversized, an unparsable or a failing upstream manifest is an error naming the upstream", async () => {
    const huge = await as(member).call("GET", "/v2/mirror/fake/x/manifests/huge", { headers: accept });
    expect(huge.status).toBe(502);
    expect(errorOf(huge).message).toContain("over the limit");
    const junk = await as(member).call("GET", "/v2/mirror/fake/x/manifests/junk", { headers: accept });
    expect(junk.status).toBe(502);
    expect(errorOf(junk).message).toContain("upstream fake answered wrongly");
    const down = await as(member).call("GET", "/v2/mirror/fake/x/manifests/down", { headers: accept });
    expect(down.status).toBe(503);
    const missing = await as(member).call("GET", "/v2/mirror/fake/x/manifests/none", { headers: accept });
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe("MANIFEST_UNKNOWN");
  });
});
