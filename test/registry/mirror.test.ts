/**
 * The pull-through mirror against a real upstream (Debian's docker-registry), with unmodified
 * clients: skopeo and podman pull through Nimbus (byte-identical layers), a tag moved upstream is
 * seen after the TTL and not before, concurrent pulls of a missing blob fetch it once, and with the
 * upstream stopped the cached images still pull while a tag never seen is UNAVAILABLE naming it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobOf, makeLayout, type Layout } from "./support/layout.ts";
import { sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";
import { ok, pushToUpstream, run, startUpstream, tempFiles, type Upstream } from "./mirror-support.ts";

let up: Upstream;
let reg: TestRegistry;
let a: Layout;
let b: Layout;
let big: Layout;
let token: string;
const work = mkdtempSync(join(tmpdir(), "nimbus-mirror-"));
const storage = ["--root", join(work, "root"), "--runroot", join(work, "runroot"), "--storage-driver", "vfs"];
const env = { REGISTRY_AUTH_FILE: join(work, "auth.json") };
/** Long enough that pushing the moved tag upstream (skopeo, on a loaded machine) fits inside it. */
const TTL_S = 3;
const stats = () => reg.running.deps.mirror!.stats.of("local");

beforeAll(async () => {
  up = await startUpstream();
  a = makeLayout("mirror-a", [300_000, 20_000]);
  b = makeLayout("mirror-b", [50_000]);
  big = makeLayout("mirror-big", [12_000_000]);
  await pushToUpstream(up, a.dir, "v1", "team/tool:v1");
  await pushToUpstream(up, a.dir, "v1", "library/app:v1");
  await pushToUpstream(up, a.dir, "v1", "team/moving:latest");
  await pushToUpstream(up, big.dir, "v1", "team/big:v1");
  await pushToUpstream(up, b.dir, "v1", "library/mirrored:v1");
  for (const t of ["t1", "t2", "t3"]) await pushToUpstream(up, b.dir, "v1", `team/paged:${t}`);
  reg = await startTestRegistry({ mirror: { upstreams: `local=${up.url}`, mirrorDefault: "local", mirrorTagTtlSeconds: TTL_S, mirrorTimeoutSeconds: 5 } });
  token = await reg.token("member", "acme");
  writeFileSync(env.REGISTRY_AUTH_FILE, "{}");
});
afterAll(async () => {
  await reg?.cleanup();
  await up?.cleanup();
  for (const l of [a, b, big]) if (l) rmSync(l.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${reg.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };

describe("pull through the mirror", () => {
  test("skopeo copies mirror/local/team/tool:v1 out of Nimbus: the upstream's manifest and byte-identical layers", async () => {
    const out = join(work, "tool");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", `ci:${token}`, `docker://${reg.hostPort}/mirror/local/team/tool:v1`, `oci:${out}:v1`], env);
    expect(JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests[0].digest).toBe(a.manifestDigest);
    for (const d of a.layers) expect(Buffer.compare(blobOf(out, d), blobOf(a.dir, d))).toBe(0);
    const s = stats();
    expect(s.manifest_miss).toBe(1);
    expect(s.blob_miss).toBe(a.layers.length + 1); // the layers and the config
    expect(tempFiles(reg.dir)).toEqual([]);
  });

  test("podman pulls the same image as a registry-mirrors endpoint would ask for it: library/app", async () => {
    await ok(["podman", ...storage, "pull", "--tls-verify=false", "--creds", `ci:${token}`, `${reg.hostPort}/library/app:v1`], env);
    const inspect = JSON.parse(await ok(["podman", ...storage, "image", "inspect", `${reg.hostPort}/library/app:v1`], env));
    expect(inspect[0].Digest).toBe(a.manifestDigest);
    // Stored under the mirror's namespace: the same bytes by the explicit name, a cache hit.
    const before = stats().manifest_hit;
    const r = await get(`/v2/mirror/local/library/app/manifests/${a.manifestDigest}`, accept);
    expect(r.status).toBe(200);
    expect(sha256(new Uint8Array(await r.arrayBuffer()))).toBe(a.manifestDigest);
    expect(stats().manifest_hit).toBe(before + 1);
  });

  test("podman with a registries.conf naming Nimbus as docker.io's mirror pulls docker.io/library/mirrored through it", async () => {
    const conf = join(work, "registries.conf");
    writeFileSync(conf, `unqualified-search-registries = []\n[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "${reg.hostPort}"\ninsecure = true\n`);
    const auth = join(work, "mirror-auth.json");
    writeFileSync(auth, JSON.stringify({ auths: { [reg.hostPort]: { auth: Buffer.from(`ci:${token}`).toString("base64") } } }));
    const before = stats().manifest_miss;
    await ok(["podman", ...storage, "pull", "docker.io/library/mirrored:v1"], { CONTAINERS_REGISTRIES_CONF: conf, REGISTRY_AUTH_FILE: auth });
    const inspect = JSON.parse(await ok(["podman", ...storage, "image", "inspect", "docker.io/library/mirrored:v1"], env));
    expect(inspect[0].Digest).toBe(b.manifestDigest);
    expect(stats().manifest_miss).toBe(before + 1);
  });

  test("a blob by range comes from the cache once stored", async () => {
    const layer = a.layers[0]!;
    const r = await get(`/v2/mirror/local/team/tool/blobs/${layer}`, { range: "bytes=10-19" });
    expect(r.status).toBe(206);
    expect(Buffer.compare(Buffer.from(await r.arrayBuffer()), blobOf(a.dir, layer).subarray(10, 20))).toBe(0);
  });

  test("tags list is the upstream's", async () => {
    const r = await get("/v2/mirror/local/team/tool/tags/list");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ name: "mirror/local/team/tool", tags: ["v1"] });
  });

  test("a paged tags list carries the next page's Link under the mirror's name", async () => {
    const first = await get("/v2/mirror/local/team/paged/tags/list?n=2");
    expect(await first.json()).toEqual({ name: "mirror/local/team/paged", tags: ["t1", "t2"] });
    expect(first.headers.get("link")).toBe('</v2/mirror/local/team/paged/tags/list?n=2&last=t2>; rel="next"');
    const second = await get("/v2/mirror/local/team/paged/tags/list?n=2&last=t2");
    expect(await second.json()).toEqual({ name: "mirror/local/team/paged", tags: ["t3"] });
    expect(second.headers.get("link")).toBeNull();
    for (const t of ["t1", "t2", "t3"]) expect((await get(`/v2/mirror/local/team/paged/manifests/${t}`, accept)).status).toBe(200); // cached for later
  });

  test("concurrent pulls of a missing blob fetch it once, and each gets every byte", async () => {
    const layer = big.layers[0]!;
    const before = stats();
    const bodies = await Promise.all([1, 2, 3].map(async () => Buffer.from(await (await get(`/v2/mirror/local/team/big/blobs/${layer}`)).arrayBuffer())));
    for (const body of bodies) expect(Buffer.compare(body, blobOf(big.dir, layer))).toBe(0);
    const after = stats();
    expect(after.blob_miss - before.blob_miss).toBe(1); // one upstream GET
    // The others joined it (or, on a slow machine, came after it had been stored).
    expect(after.blob_joined - before.blob_joined + (after.blob_hit - before.blob_hit)).toBe(2);
    expect(after.blob_joined - before.blob_joined).toBeGreaterThanOrEqual(1);
    expect(tempFiles(reg.dir)).toEqual([]);
  });

  test("a tag moved upstream: the old digest until the TTL has passed, the new one after", async () => {
    const digestOf = async () => (await get("/v2/mirror/local/team/moving/manifests/latest", accept)).headers.get("docker-content-digest");
    expect(await digestOf()).toBe(a.manifestDigest);
    const fetched = Date.now();
    await pushToUpstream(up, b.dir, "v1", "team/moving:latest");
    expect(Date.now() - fetched).toBeLessThan(TTL_S * 1000); // else the next line tests nothing
    expect(await digestOf()).toBe(a.manifestDigest); // fresh: not asked
    await Bun.sleep(TTL_S * 1000 + 200);
    expect(await digestOf()).toBe(b.manifestDigest);
    // Past the TTL again but unchanged: one HEAD upstream, served from the cache.
    const before = stats().manifest_revalidated;
    await Bun.sleep(TTL_S * 1000 + 200);
    expect(await digestOf()).toBe(b.manifestDigest);
    expect(stats().manifest_revalidated).toBe(before + 1);
  });

  test("anonymous pulls are challenged (the mirror's anonymous access is off)", async () => {
    const r = await fetch(`${reg.url}/v2/mirror/local/team/tool/manifests/v1`);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toContain('scope="repository:mirror/local/team/tool:pull"');
  });
});

describe("with the upstream stopped", () => {
  beforeAll(async () => {
    await up.stop();
    await Bun.sleep(TTL_S * 1000 + 100); // every cached tag is now past its TTL
  });

  test("skopeo pulls the cached image again: stale tag served, layers from the store", async () => {
    const before = stats();
    const out = join(work, "tool-again");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", `ci:${token}`, `docker://${reg.hostPort}/mirror/local/team/tool:v1`, `oci:${out}:v1`], env);
    for (const d of a.layers) expect(Buffer.compare(blobOf(out, d), blobOf(a.dir, d))).toBe(0);
    const after = stats();
    expect(after.manifest_stale - before.manifest_stale).toBe(1);
    expect(after.blob_hit - before.blob_hit).toBe(a.layers.length + 1);
    expect(after.blob_miss).toBe(before.blob_miss);
  });

  test("podman pulls library/app from the cache, by name and as docker.io's mirror", async () => {
    await ok(["podman", ...storage, "rmi", "-f", `${reg.hostPort}/library/app:v1`, "docker.io/library/mirrored:v1"], env);
    await ok(["podman", ...storage, "pull", "--tls-verify=false", "--creds", `ci:${token}`, `${reg.hostPort}/library/app:v1`], env);
    const mirrorEnv = { CONTAINERS_REGISTRIES_CONF: join(work, "registries.conf"), REGISTRY_AUTH_FILE: join(work, "mirror-auth.json") };
    await ok(["podman", ...storage, "pull", "docker.io/library/mirrored:v1"], mirrorEnv);
    const inspect = JSON.parse(await ok(["podman", ...storage, "image", "inspect", "docker.io/library/mirrored:v1"], env));
    expect(inspect[0].Digest).toBe(b.manifestDigest);
  });

  test("a tag never seen is UNAVAILABLE (503) naming the upstream as unreachable", async () => {
    const r = await get("/v2/mirror/local/team/tool/manifests/v2", accept);
    expect(r.status).toBe(503);
    const e = (await r.json()).errors[0];
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.message).toContain("upstream local is unreachable");
    const cli = await run(["skopeo", "inspect", "--tls-verify=false", "--creds", `ci:${token}`, `docker://${reg.hostPort}/mirror/local/team/never:v1`], env);
    expect(cli.code).not.toBe(0);
    expect(cli.err).toContain("503 Service Unavailable"); // skopeo shows no body of a 5xx
  });

  test("a blob never fetched is UNAVAILABLE too; the tags list falls back to the cached tags", async () => {
    const r = await get(`/v2/mirror/local/team/tool/blobs/${b.layers[0]}`);
    expect(r.status).toBe(503);
    expect((await r.json()).errors[0].code).toBe("UNAVAILABLE");
    const tags = await get("/v2/mirror/local/team/tool/tags/list");
    expect(await tags.json()).toEqual({ name: "mirror/local/team/tool", tags: ["v1"] });
    expect(stats().upstream_error).toBeGreaterThan(0);
    // The cached tags page the same way, Link and all.
    const page = await get("/v2/mirror/local/team/paged/tags/list?n=2");
    expect(await page.json()).toEqual({ name: "mirror/local/team/paged", tags: ["t1", "t2"] });
    expect(page.headers.get("link")).toBe('</v2/mirror/local/team/paged/tags/list?n=2&last=t2>; rel="next"');
  });
});

describe("the mirror's counters on /metrics", () => {
  test("nimbus_registry_mirror_events_total carries each upstream event's count, the same as the mirror's own", async () => {
    const r = await fetch(`${reg.url}/metrics`, { headers: { authorization: `Bearer ${await reg.token("operator")}` } });
    expect(r.status).toBe(200);
    const text = await r.text();
    const own = stats();
    for (const event of ["manifest_hit", "blob_miss", "manifest_stale", "upstream_error"] as const) {
      const line = text.split("\n").find((l) => l.startsWith(`nimbus_registry_mirror_events_total{upstream="local",event="${event}"}`));
      expect(line).toBeDefined();
      expect(Number(line!.split(" ").pop())).toBe(own[event]);
      expect(own[event]).toBeGreaterThan(0);
    }
    // The upstream's URL never appears in a metric.
    expect(text).not.toContain(up.url);
  });
});
