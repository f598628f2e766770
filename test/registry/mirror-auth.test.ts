/**
 * Upstream authentication and the mirror's own access: a docker-registry behind htpasswd (a Basic
 * challenge) pulled with configured credentials, and refused without them; another Nimbus registry as
 * upstream (a Bearer challenge: the mirror fetches a token from its realm, anonymously for a public
 * org, with credentials for a private one); credentials never appear in answers or counters; with
 * NIMBUS_REGISTRY_MIRROR_ANONYMOUS the mirror (and only the mirror) is pulled without a token.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobOf, makeLayout, type Layout } from "./support/layout.ts";
import { startTestRegistry, type TestRegistry } from "./support/service.ts";
import { ok, pushToUpstream, startUpstream, type Upstream } from "./mirror-support.ts";

const PASSWORD = "upstream-pass-5f1e0c2a9b";
let locked: Upstream;
let nimbusUp: TestRegistry;
let upToken: string;
let reg: TestRegistry;
let a: Layout;
let token: string;
const work = mkdtempSync(join(tmpdir(), "nimbus-mirror-auth-"));
const env = { REGISTRY_AUTH_FILE: join(work, "auth.json") };
const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };

beforeAll(async () => {
  a = makeLayout("mirror-auth", [100_000]);
  locked = await startUpstream({ htpasswd: { user: "puller", password: PASSWORD } });
  await pushToUpstream(locked, a.dir, "v1", "team/tool:v1", `puller:${PASSWORD}`);
  nimbusUp = await startTestRegistry({ publicOrgs: ["pub"] });
  upToken = await nimbusUp.token("org-admin", "priv");
  await ok(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-registry-token", await nimbusUp.token("org-admin", "pub"), `oci:${a.dir}:v1`, `docker://${nimbusUp.hostPort}/pub/app:v1`]);
  await ok(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-registry-token", upToken, `oci:${a.dir}:v1`, `docker://${nimbusUp.hostPort}/priv/app:v1`]);
  const creds = join(work, "upstream-credentials.json");
  writeFileSync(creds, JSON.stringify({ locked: { username: "puller", password: PASSWORD }, nimbus: { username: "ci", password: upToken } }), { mode: 0o600 });
  reg = await startTestRegistry({
    mirror: {
      upstreams: `locked=${locked.url},bare=${locked.url},nimbus=${nimbusUp.url},nimbusanon=${nimbusUp.url}`,
      upstreamCredentialsFile: creds,
      mirrorAnonymous: true,
      mirrorTimeoutSeconds: 5,
    },
  });
  token = await reg.token("viewer", "acme");
  writeFileSync(env.REGISTRY_AUTH_FILE, "{}");
});
afterAll(async () => {
  await reg?.cleanup();
  await nimbusUp?.cleanup();
  await locked?.cleanup();
  if (a) rmSync(a.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const get = async (path: string, auth = true) => {
  const r = await fetch(`${reg.url}${path}`, { headers: { ...accept, ...(auth ? { authorization: `Bearer ${token}` } : {}) } });
  return { status: r.status, text: await r.text() };
};

describe("upstream credentials", () => {
  test("a Basic (htpasswd) upstream is pulled with its configured credentials: byte-identical layers", async () => {
    const out = join(work, "locked");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", `ci:${token}`, `docker://${reg.hostPort}/mirror/locked/team/tool:v1`, `oci:${out}:v1`], env);
    for (const d of a.layers) expect(Buffer.compare(blobOf(out, d), blobOf(a.dir, d))).toBe(0);
  });

  test("the same upstream without credentials refuses the mirror: NAME_UNKNOWN naming why, no secret in it", async () => {
    const r = await get("/v2/mirror/bare/team/tool/manifests/v1");
    expect(r.status).toBe(404);
    const e = JSON.parse(r.text).errors[0];
    expect(e.code).toBe("NAME_UNKNOWN");
    expect(e.message).toContain("upstream bare refused team/tool (401)");
    expect(r.text).not.toContain(PASSWORD);
  });

  test("a Bearer upstream (another Nimbus registry): an anonymous token for its public org, the credentials for a private one", async () => {
    const pub = await get("/v2/mirror/nimbusanon/pub/app/manifests/v1");
    expect(pub.status).toBe(200);
    const priv = await get("/v2/mirror/nimbusanon/priv/app/manifests/v1");
    expect(priv.status).toBe(404);
    expect(JSON.parse(priv.text).errors[0].message).toContain("upstream nimbusanon refused priv/app (401)");
    const out = join(work, "nimbus");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", `ci:${token}`, `docker://${reg.hostPort}/mirror/nimbus/priv/app:v1`, `oci:${out}:v1`], env);
    for (const d of a.layers) expect(Buffer.compare(blobOf(out, d), blobOf(a.dir, d))).toBe(0);
    expect(readFileSync(join(out, "index.json"), "utf8")).toContain(a.manifestDigest);
  });

  test("no credential in the counters", () => {
    const text = JSON.stringify(reg.running.deps.mirror!.stats.snapshot());
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(upToken);
    expect(reg.running.deps.mirror!.stats.of("locked").manifest_miss).toBe(1);
  });
});

describe("anonymous access to the mirror (opted in)", () => {
  test("anyone pulls mirrored content without a token", async () => {
    const r = await get("/v2/mirror/locked/team/tool/manifests/v1", false);
    expect(r.status).toBe(200);
    await ok(["skopeo", "inspect", "--tls-verify=false", "--no-creds", `docker://${reg.hostPort}/mirror/locked/team/tool:v1`], env);
  });

  test("but not an organisation's repositories, and never a push", async () => {
    expect((await get("/v2/acme/app/manifests/v1", false)).status).toBe(401);
    const push = await fetch(`${reg.url}/v2/mirror/locked/team/tool/blobs/uploads/`, { method: "POST" });
    expect(push.status).toBe(401);
    const withToken = await fetch(`${reg.url}/v2/mirror/locked/team/tool/blobs/uploads/`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(403);
  });
});
