/**
 * The org registry quota on the real service: the org's limits in the real NATS KV bucket (written
 * the way `nimbus limits set` writes them, through LimitsStore), watched by the registry; pushes past
 * the quota refused with 403 DENIED naming it and nothing linked or stored; a raised quota applies
 * without a restart; eviction of untagged content by last access past the soft threshold, and to
 * make room for a push. The registry's own NATS user (src/nats/permissions.ts) may watch the limits.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureLimitsBucket } from "../../src/nats/topology.ts";
import { LimitsStore } from "../../src/jobs/limits/store.ts";
import { authorizationBlock, registryPermissions } from "../../src/nats/permissions.ts";
import { startRegistryService } from "../../src/registry/server.ts";
import { OrgUsage } from "../../src/registry/quota/usage.ts";
import { startNats } from "../support/nats.ts";
import { waitFor } from "../support/net.ts";
import { client, imageManifest, type Client } from "./support/http.ts";
import { makeLayout } from "./support/layout.ts";
import { registryConfig, seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let limits: LimitsStore;
let closeNats: () => Promise<void>;
const stored = (digest: string) => existsSync(join(reg.dir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7)));
const DEFAULTS = { running: 0, submissions: 1000, windowMs: 60_000, cacheBytes: 0, registryBytes: 0 };

async function setQuota(org: string, bytes: number | null) {
  await limits.set(org, { registryBytes: bytes } as never);
  const want = bytes ?? 0;
  await waitFor(() => reg.running.deps.quota.limitOf(org) === want, 5000, `the registry to see ${org}'s quota of ${want}`);
}

beforeAll(async () => {
  reg = await startTestRegistry({ config: { gcGraceSeconds: 1, gcUntaggedSeconds: 3600, quotaSoftPercent: 60 } });
  const nc = await connectNats({ url: reg.natsUrl, name: "test-limits" });
  limits = await LimitsStore.open(await ensureLimitsBucket(nc), DEFAULTS);
  closeNats = async () => {
    limits.stop();
    await nc.close();
  };
});
afterAll(async () => {
  await closeNats();
  await reg.cleanup();
});

/** POST, then PUT with the whole blob: the answer of the closing PUT. */
async function upload(c: Client, repo: string, bytes: Uint8Array) {
  const post = await c.call("POST", `/v2/${repo}/blobs/uploads/`);
  const loc = post.headers.get("location")!;
  return c.call("PUT", `${loc}?digest=${sha256(bytes)}`, { body: bytes, headers: { "content-type": "application/octet-stream" } });
}

describe("quota refusal", () => {
  test("a push past the quota is 403 DENIED naming it, links and stores nothing; limits set raising it applies live", async () => {
    const c = client(reg.url, await reg.token("member", "quota1"));
    await setQuota("quota1", 10_000);
    expect((await upload(c, "quota1/app", seeded("q-first", 8000))).status).toBe(201);
    const big = seeded("q-second", 5000);
    const refused = await upload(c, "quota1/app", big);
    expect(refused.status).toBe(403);
    const err = refused.json().errors[0];
    expect(err.code).toBe("DENIED");
    expect(err.message).toContain("registry quota of organisation quota1");
    expect(err.message).toContain("0.0 MiB quota"); // 10 000 bytes, as MiB
    expect(err.detail).toMatchObject({ quotaBytes: 10_000, pushBytes: 5000 });
    expect((await c.call("HEAD", `/v2/quota1/app/blobs/${sha256(big)}`)).status).toBe(404);
    expect(stored(sha256(big))).toBe(false);
    expect(reg.running.deps.quota.used("quota1")).toBe(8000);

    // Monolithic, with and without a declared length: refused before (or while) the body is read.
    const mono = await c.call("POST", `/v2/quota1/app/blobs/uploads/?digest=${sha256(big)}`, { body: big, headers: { "content-type": "application/octet-stream" } });
    expect(mono.status).toBe(403);
    expect(mono.json().errors[0].code).toBe("DENIED");
    const chunked = await fetch(`${reg.url}/v2/quota1/app/blobs/uploads/?digest=${sha256(big)}`, {
      method: "POST", headers: { authorization: `Bearer ${await reg.token("member", "quota1")}` }, body: new Blob([big as Uint8Array<ArrayBuffer>]).stream(),
    });
    expect(chunked.status).toBe(403);
    expect(stored(sha256(big))).toBe(false);

    await setQuota("quota1", 100_000);
    expect((await upload(c, "quota1/app", big)).status).toBe(201);
    expect(reg.running.deps.quota.used("quota1")).toBe(13_000);
  });

  test("a manifest past the quota is refused; a blob the org already holds costs nothing", async () => {
    const c = client(reg.url, await reg.token("member", "quota2"));
    await setQuota("quota2", 6000);
    const config = new TextEncoder().encode('{"os":"linux"}');
    const layer = seeded("q2-layer", 5900);
    expect((await upload(c, "quota2/app", config)).status).toBe(201);
    expect((await upload(c, "quota2/app", layer)).status).toBe(201);
    expect((await upload(c, "quota2/other", layer)).status).toBe(201); // already the org's: no charge
    expect(reg.running.deps.quota.used("quota2")).toBe(5900 + config.byteLength);
    const put = await c.putManifest("quota2/app", "v1", imageManifest(config, [layer]));
    expect(put.status).toBe(403);
    expect(put.json().errors[0].code).toBe("DENIED");
    expect((await c.call("GET", "/v2/quota2/app/manifests/v1")).status).toBe(404);
    await setQuota("quota2", null); // back to the default: no quota
    expect((await c.putManifest("quota2/app", "v1", imageManifest(config, [layer]))).status).toBe(201);
  });

  test("another org's quota does not apply, and a blob shared across orgs counts for each", async () => {
    const a = client(reg.url, await reg.token("member", "quota3"));
    const b = client(reg.url, await reg.token("member", "quota4"));
    await setQuota("quota3", 5000);
    const blob = seeded("q34", 4000);
    expect((await upload(b, "quota4/app", blob)).status).toBe(201);
    expect((await upload(b, "quota4/app", seeded("q4-more", 9000))).status).toBe(201); // quota4 has none
    expect((await upload(a, "quota3/app", blob)).status).toBe(201);
    expect(reg.running.deps.quota.used("quota3")).toBe(4000);
    expect(reg.running.deps.quota.used("quota4")).toBe(13_000);
  });
});

test("skopeo, unmodified, reports the refusal in the registry's words", async () => {
  await setQuota("quota5", 50_000);
  const layout = makeLayout("quota5", [200_000]);
  const work = mkdtempSync(join(tmpdir(), "nimbus-quota-skopeo-"));
  try {
    const p = Bun.spawn(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", `ci:${await reg.token("member", "quota5")}`, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/quota5/app:v1`], {
      stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, REGISTRY_AUTH_FILE: join(work, "auth.json") },
    });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).not.toBe(0);
    expect(err).toContain("denied");
    expect(err).toContain("registry quota of organisation quota5 exceeded");
    expect(reg.running.deps.quota.used("quota5")).toBeLessThanOrEqual(50_000);
  } finally {
    rmSync(layout.dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}, 60_000);

/** An image pushed under `tag`, as small JSON config + one layer of `size` bytes. */
async function pushImage(c: Client, repo: string, seed: string, tag: string, size: number) {
  const config = new TextEncoder().encode(JSON.stringify({ os: "linux", seed }));
  const layer = seeded(seed, size);
  for (const b of [config, layer]) expect((await upload(c, repo, b)).status).toBe(201);
  const body = JSON.stringify(imageManifest(config, [layer]));
  const put = await c.putManifest(repo, tag, body);
  expect(put.status).toBe(201);
  return { manifest: sha256(body), layer: sha256(layer), config: sha256(config) };
}

describe("eviction", () => {
  test("past the soft threshold, untagged content goes least recently used first; tagged images stay", async () => {
    const c = client(reg.url, await reg.token("org-admin", "lru"));
    await setQuota("lru", 100_000); // soft threshold: 60 000
    const one = await pushImage(c, "lru/app", "lru-1", "latest", 20_000);
    const two = await pushImage(c, "lru/app", "lru-2", "latest", 20_000); // one is untagged now
    const three = await pushImage(c, "lru/cache", "lru-3", "buildcache", 15_000);
    expect((await c.call("DELETE", "/v2/lru/cache/manifests/buildcache")).status).toBe(202); // three untagged
    await Bun.sleep(1200); // everything past the grace window
    // Read image one (by digest) and its layer: it is now the most recently used untagged image.
    expect((await c.call("GET", `/v2/lru/app/manifests/${one.manifest}`)).status).toBe(200);
    expect((await c.call("GET", `/v2/lru/app/blobs/${one.layer}`)).status).toBe(200);
    await Bun.sleep(1200);
    expect(reg.running.deps.quota.used("lru")).toBeLessThan(60_000);
    const four = await pushImage(c, "lru/app", "lru-4", "v4", 8000); // past 60 000: eviction starts
    await waitFor(() => reg.running.deps.quota.used("lru") <= 60_000, 10_000, "eviction down to the soft threshold");
    // three (least recently used) went, manifest first, then the blobs it alone named; one, read since, stays.
    expect((await c.call("GET", `/v2/lru/cache/manifests/${three.manifest}`)).status).toBe(404);
    expect((await c.call("HEAD", `/v2/lru/cache/blobs/${three.layer}`)).status).toBe(404);
    expect((await c.call("GET", `/v2/lru/app/manifests/${one.manifest}`)).status).toBe(200);
    for (const tag of ["latest", "v4"]) expect((await c.call("GET", `/v2/lru/app/manifests/${tag}`)).status).toBe(200);
    expect((await c.call("GET", `/v2/lru/app/blobs/${two.layer}`)).status).toBe(200); // two is tagged `latest`
    expect((await c.call("GET", `/v2/lru/app/blobs/${four.layer}`)).status).toBe(200);
  });

  test("a push past the hard quota first evicts untagged content to make room", async () => {
    const c = client(reg.url, await reg.token("org-admin", "room"));
    await setQuota("room", 30_000);
    const old = await pushImage(c, "room/app", "room-1", "v1", 12_000);
    expect((await c.call("DELETE", "/v2/room/app/manifests/v1")).status).toBe(202);
    await pushImage(c, "room/app", "room-2", "v2", 5000);
    await Bun.sleep(1200);
    const r = await upload(c, "room/app", seeded("room-big", 20_000)); // 17 k + 20 k > 30 k without eviction
    expect(r.status).toBe(201);
    expect((await c.call("GET", `/v2/room/app/manifests/${old.manifest}`)).status).toBe(404);
    expect((await c.call("GET", "/v2/room/app/manifests/v2")).status).toBe(200);
    expect(reg.running.deps.quota.used("room")).toBeLessThanOrEqual(30_000);
    // The evicted bytes go at the next collection (nothing else links them).
    await Bun.sleep(1200);
    await reg.running.gc.run();
    expect(stored(old.layer)).toBe(false);
    // With nothing left to evict, the push is refused.
    const refused = await upload(c, "room/app", seeded("room-too-big", 26_000)); // v2 (tagged) + 26 k > 30 k

    expect(refused.status).toBe(403);
  });

  test("an untagged manifest within its window survives collection (it is evictable, not garbage)", async () => {
    const c = client(reg.url, await reg.token("member", "untagged"));
    const one = await pushImage(c, "untagged/app", "ut-1", "latest", 2000);
    await pushImage(c, "untagged/app", "ut-2", "latest", 2000);
    await Bun.sleep(1200);
    await reg.running.gc.run();
    expect((await c.call("GET", `/v2/untagged/app/manifests/${one.manifest}`)).status).toBe(200);
    expect(stored(one.layer)).toBe(true);
  });
});

test("usage rebuilt from the metadata (as at a restart) equals the count kept live, for every org", async () => {
  const rebuilt = new OrgUsage();
  await rebuilt.load(reg.running.deps.repos);
  const live = reg.running.deps.quota.q.usage.all();
  expect(live.length).toBeGreaterThanOrEqual(3); // orgs whose content is still linked (collections removed the loose blobs)
  expect(rebuilt.all()).toEqual(live);
});

describe("the registry's own NATS user", () => {
  test("watches the org limits (and creates their bucket), so a quota set by the control plane applies", async () => {
    const nats = await startNats({
      extraConfig: authorizationBlock([{ user: "control", password: "control-pass" }, { user: "registry", password: "registry-pass", permissions: registryPermissions() }]),
    });
    const dir = mkdtempSync(join(tmpdir(), "nimbus-registry-perm-"));
    try {
      const running = await startRegistryService(registryConfig({
        host: "127.0.0.1", port: 0, dir, maxManifestBytes: 4 * 1024 * 1024, maxBlobBytes: 1024 ** 3, externalUrl: "", publicOrgs: [], tokenTtlSeconds: 300,
        authSecret: "registry-perm-secret-0123456789abcdef", natsUrl: nats.url, natsToken: "", natsUser: "registry", natsPassword: "registry-pass", natsReplicas: 1,
      }));
      const nc = await connectNats({ url: nats.url, user: "control", password: "control-pass", name: "control" });
      const store = await LimitsStore.open(await ensureLimitsBucket(nc), DEFAULTS);
      await store.set("permorg", { registryBytes: 1234 } as never);
      await waitFor(() => running.deps.quota.limitOf("permorg") === 1234, 5000, "the registry to see the quota");
      store.stop();
      await nc.close();
      await running.stop();
    } finally {
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
