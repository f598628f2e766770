/**
 * The mirror's budget (NIMBUS_REGISTRY_MIRROR_MAX_BYTES) against a real upstream (Debian's
 * docker-registry) with skopeo: past the soft share of it, the least recently used mirrored image
 * goes, although it is tagged; asked for again, it is fetched again, byte-identical; an org's own
 * tagged images are never evicted by the mirror's budget (it is the mirror's alone).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobOf, makeLayout, type Layout } from "./support/layout.ts";
import { startTestRegistry, type TestRegistry } from "./support/service.ts";
import { ok, pushToUpstream, startUpstream, type Upstream } from "./mirror-support.ts";
import { waitFor } from "../support/net.ts";
import type { Digest } from "../../src/blobs/digest.ts";

let up: Upstream;
let reg: TestRegistry;
let x: Layout;
let y: Layout;
let own: Layout;
let token: string;
const work = mkdtempSync(join(tmpdir(), "nimbus-mirror-budget-"));
const env = { REGISTRY_AUTH_FILE: join(work, "auth.json") };
/** One image is ~200 kB: the budget holds one, not two (soft share 90 %). */
const BUDGET = 300_000;
const SOFT = BUDGET * 0.9;

beforeAll(async () => {
  up = await startUpstream();
  x = makeLayout("budget-x", [200_000]);
  y = makeLayout("budget-y", [200_000]);
  own = makeLayout("budget-own", [200_000]);
  await pushToUpstream(up, x.dir, "v1", "team/x:v1");
  await pushToUpstream(up, y.dir, "v1", "team/y:v1");
  reg = await startTestRegistry({ mirror: { upstreams: `local=${up.url}`, mirrorTimeoutSeconds: 5 }, config: { mirrorMaxBytes: BUDGET, gcGraceSeconds: 1 } });
  token = await reg.token("member", "acme");
  writeFileSync(env.REGISTRY_AUTH_FILE, "{}");
});
afterAll(async () => {
  await reg?.cleanup();
  await up?.cleanup();
  for (const l of [x, y, own]) if (l) rmSync(l.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const usage = (org: string) => reg.running.deps.quota.q.usage.bytes(org);
const hasManifest = async (repo: string, digest: string) => !!(await reg.running.deps.repos.manifest(repo, digest as Digest, true));
const stats = () => reg.running.deps.mirror!.stats.of("local");

async function pull(name: string, l: Layout, out: string): Promise<void> {
  await ok(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-creds", `ci:${token}`, `docker://${reg.hostPort}/${name}`, `oci:${out}:v1`], env);
  expect(JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests[0].digest).toBe(l.manifestDigest);
  for (const d of l.layers) expect(Buffer.compare(blobOf(out, d), blobOf(l.dir, d))).toBe(0);
}

describe("the mirror's budget", () => {
  test("past its soft share, the least recently used mirrored image goes, tag and all; the org's own pushed image stays", async () => {
    // An org's own image, over the mirror's budget by itself: the budget is not the org's quota.
    await ok(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", `ci:${token}`, `oci:${own.dir}:v1`, `docker://${reg.hostPort}/acme/own:v1`], env);
    await pull("mirror/local/team/x:v1", x, join(work, "x1"));
    expect(usage("mirror")).toBeLessThan(SOFT);
    await Bun.sleep(1500); // past the grace window: x may go, y (fetched next) may not
    await pull("mirror/local/team/y:v1", y, join(work, "y1"));
    await waitFor(async () => usage("mirror") <= SOFT, 10_000, "the mirror back under its soft budget");
    expect(await hasManifest("mirror/local/team/x", x.manifestDigest)).toBe(false);
    expect(await reg.running.deps.repos.tag("mirror/local/team/x", "v1")).toBeNull();
    expect(await hasManifest("mirror/local/team/y", y.manifestDigest)).toBe(true);
    expect(await hasManifest("acme/own", own.manifestDigest)).toBe(true);
    expect(usage("acme")).toBeGreaterThan(BUDGET * 0.6);
  });

  test("an evicted image asked for again is fetched again from the upstream, byte-identical", async () => {
    const misses = stats().manifest_miss ?? 0;
    await pull("mirror/local/team/x:v1", x, join(work, "x2"));
    expect(stats().manifest_miss).toBe(misses + 1);
    expect(await hasManifest("mirror/local/team/x", x.manifestDigest)).toBe(true);
  });

  test("with the upstream down, the image that was kept still pulls from the cache", async () => {
    await up.stop();
    await pull("mirror/local/team/x:v1", x, join(work, "x3"));
  });
});
