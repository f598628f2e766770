/**
 * Unmodified clients against the real registry: skopeo (copy both ways, inspect, list-tags, delete),
 * podman push/pull as root, buildah push. Pulled layers are byte-identical to the pushed ones; a
 * client holding org A's credentials is refused on B's repositories.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobOf, makeLayout, type Layout } from "./support/layout.ts";
import { startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let layout: Layout;
let token: string;
const work = mkdtempSync(join(tmpdir(), "nimbus-clients-"));
/** podman and buildah keep their images here, not in the machine's own store. */
const storage = ["--root", join(work, "root"), "--runroot", join(work, "runroot"), "--storage-driver", "vfs"];

/** Clients run asynchronously: the registry answers them from this same process. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, REGISTRY_AUTH_FILE: join(work, "auth.json") } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}
async function ok(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 2).join(" ")} failed (${r.code}): ${r.err}`);
  return r.out;
}

beforeAll(async () => {
  reg = await startTestRegistry();
  token = await reg.token("org-admin", "acme");
  layout = makeLayout("clients", [300_000, 40_000, 5_000]);
  writeFileSync(join(work, "auth.json"), "{}"); // the clients' own auth file: nothing from the machine's
});
afterAll(async () => {
  await reg.cleanup();
  rmSync(layout.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("skopeo", () => {
  test("copy an OCI layout in (bearer token) and back out (credentials): byte-identical layers", async () => {
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", token, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/acme/skopeo/app:v1`]);
    const out = join(work, "pulled");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", `ci:${token}`, `docker://${reg.hostPort}/acme/skopeo/app:v1`, `oci:${out}:v1`]);
    for (const d of layout.layers) expect(Buffer.compare(blobOf(out, d), blobOf(layout.dir, d))).toBe(0);
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(layout.manifestDigest); // the manifest came back byte for byte
  });
  test("inspect and list-tags", async () => {
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", token, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/acme/skopeo/app:v2`]);
    const info = JSON.parse(await ok(["skopeo", "inspect", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/acme/skopeo/app:v1`]));
    expect(info.Digest).toBe(layout.manifestDigest);
    expect(info.Layers).toEqual(layout.layers);
    const tags = JSON.parse(await ok(["skopeo", "list-tags", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/acme/skopeo/app`]));
    expect(tags.Tags).toEqual(["v1", "v2"]);
  });
  test("copy between repositories of the org mounts the blobs", async () => {
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-registry-token", token, "--dest-registry-token", token,
      `docker://${reg.hostPort}/acme/skopeo/app:v1`, `docker://${reg.hostPort}/acme/skopeo/copy:v1`]);
    const info = JSON.parse(await ok(["skopeo", "inspect", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/acme/skopeo/copy:v1`]));
    expect(info.Digest).toBe(layout.manifestDigest);
  });
  test("delete removes the manifest", async () => {
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", token, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/acme/skopeo/gone:v1`]);
    await ok(["skopeo", "delete", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/acme/skopeo/gone:v1`]);
    const r = await run(["skopeo", "inspect", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/acme/skopeo/gone:v1`]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("manifest unknown");
  });
  test("org A's credentials are refused on B's repositories, for push and pull", async () => {
    const globex = await reg.token("org-admin", "globex");
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", globex, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/globex/private:v1`]);
    const pull = await run(["skopeo", "inspect", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/globex/private:v1`]);
    expect(pull.code).not.toBe(0);
    expect(pull.err).toContain("name unknown");
    const push = await run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", `ci:${token}`, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/globex/private:v2`]);
    expect(push.code).not.toBe(0);
    const tags = JSON.parse(await ok(["skopeo", "list-tags", "--tls-verify=false", "--registry-token", globex, `docker://${reg.hostPort}/globex/private`]));
    expect(tags.Tags).toEqual(["v1"]);
  });
});

describe("podman and buildah", () => {
  test("podman pulls an image and pushes it to another repository, as root", async () => {
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", token, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/acme/podman/src:v1`]);
    await ok(["podman", ...storage, "pull", "--tls-verify=false", "--creds", `ci:${token}`, `${reg.hostPort}/acme/podman/src:v1`]);
    await ok(["podman", ...storage, "push", "--tls-verify=false", "--creds", `ci:${token}`, `${reg.hostPort}/acme/podman/src:v1`, `${reg.hostPort}/acme/podman/dst:v1`]);
    const out = join(work, "podman-out");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-registry-token", token, `docker://${reg.hostPort}/acme/podman/dst:v1`, `oci:${out}:v1`]);
    const m = JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests[0];
    const manifest = JSON.parse(blobOf(out, m.digest).toString());
    expect(manifest.layers).toHaveLength(layout.layers.length);
  });
  test("buildah builds from scratch offline and pushes", async () => {
    const file = join(work, "hello.txt");
    writeFileSync(file, "hello from buildah\n");
    const c = (await ok(["buildah", ...storage, "from", "scratch"])).trim();
    await ok(["buildah", ...storage, "copy", c, file, "/hello.txt"]);
    await ok(["buildah", ...storage, "commit", "-q", c, "acme-built"]);
    await ok(["buildah", ...storage, "push", "--tls-verify=false", "--creds", `ci:${token}`, "acme-built", `docker://${reg.hostPort}/acme/buildah/hello:v1`]);
    const tags = JSON.parse(await ok(["skopeo", "list-tags", "--tls-verify=false", "--registry-token", token, `docker://${reg.hostPort}/acme/buildah/hello`]));
    expect(tags.Tags).toEqual(["v1"]);
  });
  test("podman with another org's credentials cannot pull", async () => {
    const globex = await reg.token("member", "globex");
    const r = await run(["podman", ...storage, "pull", "--tls-verify=false", "--creds", `ci:${globex}`, `${reg.hostPort}/acme/podman/src:v1`]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("name unknown");
  });
});
