/**
 * Registry operations on the real service (issue #12 part 5): the admin API's listings, tags and
 * usage per organisation (with the org's quota from the limits bucket), deletes of a tag and of a
 * repository (audited on the real audit stream), each org seeing only its own.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readAudit, type AuditRecord } from "../../src/auth/audit.ts";
import { LimitsStore } from "../../src/jobs/limits/store.ts";
import { defaultLimits } from "../../src/jobs/limits/values.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureLimitsBucket, ensureTopology, type Topology } from "../../src/nats/topology.ts";
import { waitFor } from "../support/net.ts";
import { client, imageManifest } from "./support/http.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";
import { admin, snapshot } from "./support/ops.ts";

let reg: TestRegistry;
let topo: Topology;
let closeNats: () => Promise<void>;
const config = new TextEncoder().encode('{"os":"linux","ops":1}');
const shared = seeded("ops-shared-layer", 3000);
const own = seeded("ops-own-layer", 1000);
const manifestOf = (layers: Uint8Array[]) => JSON.stringify(imageManifest(config, layers));

async function push(org: string, repo: string, tag: string, layers: Uint8Array[]) {
  const c = client(reg.url, await reg.token("org-admin", org));
  await c.pushBlob(repo, config);
  for (const l of layers) await c.pushBlob(repo, l);
  const r = await c.putManifest(repo, tag, manifestOf(layers));
  expect(r.status).toBe(201);
}

beforeAll(async () => {
  reg = await startTestRegistry({ orgQuotaBytes: 1_000_000 });
  const nc = await connectNats({ url: reg.nats.url, name: "test-registry-ops" });
  topo = await ensureTopology(nc); // the audit stream, as the control plane makes it
  closeNats = () => nc.close();
  await push("acme", "acme/app", "v1", [shared]);
  await push("acme", "acme/app", "v2", [shared, own]);
  await push("acme", "acme/tools", "latest", [shared]);
  await push("acme", "acme/app/sub", "v1", [own]);
  await push("globex", "globex/app", "v1", [shared]);
}, 30_000);
afterAll(async () => {
  await closeNats?.();
  await reg?.cleanup();
});

describe("listings", () => {
  test("an org's token lists its own repositories with tags, bytes and last push; an operator lists all or one org", async () => {
    const member = await admin(reg, await reg.token("member", "acme"), "GET", "/v1/registry/repositories");
    expect(member.status).toBe(200);
    expect(member.body.repositories.map((r: any) => r.name)).toEqual(["acme/app", "acme/app/sub", "acme/tools"]);
    const app = member.body.repositories[0];
    expect(app).toMatchObject({ name: "acme/app", org: "acme", tags: 2, manifests: 2, blobs: 5 });
    expect(app.bytes).toBe(config.length + shared.length + own.length + manifestOf([shared]).length + manifestOf([shared, own]).length);
    expect(Date.parse(app.lastPush)).toBeGreaterThan(Date.now() - 60_000);

    const op = await reg.token("operator");
    expect((await admin(reg, op, "GET", "/v1/registry/repositories")).body.repositories.map((r: any) => r.name)).toEqual(["acme/app", "acme/app/sub", "acme/tools", "globex/app"]);
    expect((await admin(reg, op, "GET", "/v1/registry/repositories?org=globex")).body.repositories.map((r: any) => r.name)).toEqual(["globex/app"]);
    expect((await admin(reg, op, "GET", "/v1/registry/repositories?org=initech")).body.repositories).toEqual([]);
    expect((await admin(reg, op, "GET", "/v1/registry/repositories?limit=1")).body.repositories).toHaveLength(1);
  });

  test("a repository's tags: digest, media type, image size (manifest, config, layers) and push time", async () => {
    const r = await admin(reg, await reg.token("viewer", "acme"), "GET", "/v1/registry/tags?repo=acme/app");
    expect(r.status).toBe(200);
    expect(r.body.tags.map((t: any) => t.tag)).toEqual(["v1", "v2"]);
    const v2 = r.body.tags[1];
    expect(v2.digest).toBe(sha256(manifestOf([shared, own])));
    expect(v2.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(v2.size).toBe(manifestOf([shared, own]).length + config.length + shared.length + own.length);
    expect(Date.parse(v2.pushedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  test("usage per org counts a layer shared by two repositories once, against the org's quota", async () => {
    const r = await admin(reg, await reg.token("viewer", "acme"), "GET", "/v1/registry/usage");
    expect(r.status).toBe(200);
    expect(r.body.usage).toHaveLength(1);
    const u = r.body.usage[0];
    const manifests = [manifestOf([shared]), manifestOf([shared, own]), manifestOf([own])].map((m) => m.length);
    // acme/tools's manifest is byte-identical to acme/app:v1's: one digest.
    expect(u).toMatchObject({ org: "acme", repositories: 3, blobs: 6, quotaBytes: 1_000_000, overQuota: false });
    expect(u.bytes).toBe(config.length + shared.length + own.length + manifests.reduce((a, b) => a + b, 0));
    expect(r.body.totalBytes).toBe(u.bytes);
    expect(r.body.quotaKnown).toBe(true);
    const all = await admin(reg, await reg.token("operator"), "GET", "/v1/registry/usage");
    expect(all.body.usage.map((x: any) => x.org)).toEqual(["acme", "globex"]);
  });

  test("an operator's per-org quota override is what usage shows, and over it the org is marked", async () => {
    const nc = await connectNats({ url: reg.nats.url, name: "test-registry-limits" });
    const store = await LimitsStore.open(await ensureLimitsBucket(nc), defaultLimits({ orgMaxRunning: 0, orgSubmissionsPerWindow: 1000, orgWindowMs: 60_000, orgCacheQuotaBytes: 0, orgRegistryQuotaBytes: 1_000_000 }));
    try {
      await store.set("globex", { registryBytes: 100, running: undefined, submissions: undefined, windowMs: undefined, cacheBytes: undefined });
      const op = await reg.token("operator");
      await waitFor(async () => (await admin(reg, op, "GET", "/v1/registry/usage?org=globex")).body.usage[0].quotaBytes === 100, 5000, "the registry to see the override");
      expect((await admin(reg, op, "GET", "/v1/registry/usage?org=globex")).body.usage[0]).toMatchObject({ org: "globex", quotaBytes: 100, overQuota: true });
      // An org that holds nothing still has a line (zeros) when asked for.
      expect((await admin(reg, op, "GET", "/v1/registry/usage?org=initech")).body.usage).toEqual([{ org: "initech", repositories: 0, blobs: 0, bytes: 0, quotaBytes: 1_000_000, overQuota: false }]);
    } finally {
      store.stop();
      await nc.close();
    }
  });
});

async function auditOf(org: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of readAudit(topo.js, { org })) out.push(r);
  return out;
}

describe("deletes", () => {
  test("a member may not delete a tag (403) and nothing changes; an org-admin deletes it, audited; a replay is 404", async () => {
    const before = await snapshot(reg);
    const member = await admin(reg, await reg.token("member", "acme"), "DELETE", "/v1/registry/tags?repo=acme/app&tag=v1");
    expect(member.status).toBe(403);
    expect(member.body).toEqual({ code: "forbidden", message: "a member token may not delete in the registry (org-admins and operators may)" });
    expect(await snapshot(reg)).toEqual(before);

    const orgAdmin = await reg.token("org-admin", "acme");
    const r = await admin(reg, orgAdmin, "DELETE", "/v1/registry/tags?repo=acme/app&tag=v1");
    expect(r.status).toBe(200);
    expect(r.body.deleted).toEqual({ repo: "acme/app", tag: "v1", digest: sha256(manifestOf([shared])), audited: true });
    // The manifest stays, by digest; the tag is gone.
    const pull = client(reg.url, orgAdmin);
    expect((await pull.call("GET", "/v2/acme/app/manifests/v1")).status).toBe(404);
    expect((await pull.call("GET", `/v2/acme/app/manifests/${sha256(manifestOf([shared]))}`)).status).toBe(200);
    const replay = await admin(reg, orgAdmin, "DELETE", "/v1/registry/tags?repo=acme/app&tag=v1");
    expect(replay.status).toBe(404);
    expect(replay.body.code).toBe("not_found");

    const trail = (await auditOf("acme")).filter((a) => a.action === "registry.delete");
    expect(trail.map((a) => [a.actor.role, a.target, a.outcome])).toEqual([["member", "acme/app", "forbidden"], ["org-admin", "acme/app", "ok"], ["org-admin", "acme/app", "not_found"]]);
    expect(trail[1]!.detail).toEqual({ kind: "tag", tag: "v1", digest: sha256(manifestOf([shared])) });
    expect(JSON.stringify(trail)).not.toContain(orgAdmin);
  });

  test("another org's repository is a 404 to list, read or delete, and the attempt lands in the caller's own trail", async () => {
    const before = await snapshot(reg);
    const globex = await reg.token("org-admin", "globex");
    for (const [method, path] of [["GET", "/v1/registry/tags?repo=acme/app"], ["DELETE", "/v1/registry/repositories?repo=acme/app"], ["DELETE", "/v1/registry/tags?repo=acme/app&tag=v2"]] as const) {
      const r = await admin(reg, globex, method, path);
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ code: "not_found", message: "repository acme/app not found" });
    }
    const listing = await admin(reg, globex, "GET", "/v1/registry/repositories?org=acme");
    expect(listing.status).toBe(403);
    expect(listing.body.message).toBe("a org-admin token sees only its organisation globex");
    expect((await admin(reg, globex, "GET", "/v1/registry/usage?org=acme")).status).toBe(403);
    expect(await snapshot(reg)).toEqual(before);
    expect((await auditOf("acme")).filter((a) => a.actor.org === "globex")).toEqual([]);
    expect((await auditOf("globex")).filter((a) => a.action === "registry.delete").map((a) => [a.target, a.outcome])).toEqual([["acme/app", "not_found"], ["acme/app", "not_found"]]);
  });

  test("an org-admin deletes a repository: its tags, manifests and links; a repository nested under it stays; the bytes stay for GC", async () => {
    const orgAdmin = await reg.token("org-admin", "acme");
    const r = await admin(reg, orgAdmin, "DELETE", "/v1/registry/repositories?repo=acme/app");
    expect(r.status).toBe(200);
    expect(r.body.deleted).toEqual({ repo: "acme/app", tags: ["v2"], manifests: 2, blobs: 3, audited: true });
    const pull = client(reg.url, orgAdmin);
    // Its folder stays as the parent of acme/app/sub, so the distribution API lists no tags (rather than NAME_UNKNOWN).
    expect((await pull.call("GET", "/v2/acme/app/tags/list")).json().tags).toEqual([]);
    expect((await pull.call("GET", `/v2/acme/app/manifests/${sha256(manifestOf([shared, own]))}`)).status).toBe(404);
    expect((await pull.call("GET", `/v2/acme/app/blobs/${sha256(own)}`)).status).toBe(404);
    expect((await pull.call("GET", "/v2/acme/app/sub/manifests/v1")).status).toBe(200);
    expect((await admin(reg, orgAdmin, "GET", "/v1/registry/repositories")).body.repositories.map((x: any) => x.name)).toEqual(["acme/app/sub", "acme/tools"]);
    expect(existsSync(join(reg.dir, "repos", "acme", "app", "_tags"))).toBe(false);
    expect(existsSync(join(reg.dir, "blobs", "sha256", sha256(own).slice(7, 9), sha256(own).slice(7)))).toBe(true);
    const again = await admin(reg, orgAdmin, "DELETE", "/v1/registry/repositories?repo=acme/app");
    expect(again.status).toBe(404);
    expect(again.body.message).toBe("repository acme/app not known to the registry");
    // A name that is only a folder above repositories (acme) is no repository.
    expect((await admin(reg, await reg.token("operator"), "DELETE", "/v1/registry/repositories?repo=acme/nothing")).status).toBe(404);
  });
});
