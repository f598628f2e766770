/**
 * Garbage collection while unmodified skopeo pushes: the collector runs back to back while skopeo
 * re-pushes an image whose layers are old garbage in the registry (unreferenced, past the grace
 * window: skopeo's HEAD finds them and skips the upload, then names them in its manifest), pushes
 * a new image, and copies one repository into another (cross-repository mount). Every push
 * succeeds, the collector sweeps real garbage meanwhile, and after a last collection past the
 * grace window every image pulls back byte for byte.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GcReport } from "../../src/registry/gc/collect.ts";
import { client, imageManifest } from "./support/http.ts";
import { blobOf, makeLayout, type Layout } from "./support/layout.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

const GRACE_S = 3;
let reg: TestRegistry;
let token: string;
const work = mkdtempSync(join(tmpdir(), "nimbus-gc-race-"));
const layouts: Layout[] = [];
const stored = (digest: string) => existsSync(join(reg.dir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7)));

async function skopeo(...args: string[]): Promise<void> {
  const p = Bun.spawn(["skopeo", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, REGISTRY_AUTH_FILE: join(work, "auth.json") } });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`skopeo ${args[0]} failed (${code}): ${err}`);
}
const push = (l: Layout, ref: string) => skopeo("copy", "--dest-tls-verify=false", "--dest-registry-token", token, `oci:${l.dir}:v1`, `docker://${reg.hostPort}/${ref}`);
const copy = (from: string, to: string) =>
  skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-registry-token", token, "--dest-registry-token", token, `docker://${reg.hostPort}/${from}`, `docker://${reg.hostPort}/${to}`);

beforeAll(async () => {
  reg = await startTestRegistry({ config: { gcGraceSeconds: GRACE_S, gcUntaggedSeconds: 0, gcIntervalSeconds: 3600 } });
  token = await reg.token("org-admin", "acme");
  writeFileSync(join(work, "auth.json"), "{}");
});
afterAll(async () => {
  await reg.cleanup();
  for (const l of layouts) rmSync(l.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

test("pushes racing back-to-back collections end with pullable, byte-identical images", async () => {
  const a = makeLayout("race-a", [400_000, 60_000, 5_000]);
  const b = makeLayout("race-b", [300_000, 7_000]);
  const junk = makeLayout("race-junk", [50_000]);
  layouts.push(a, b, junk);
  const c = client(reg.url, token);
  // Old garbage: image A pushed and its manifest deleted (its layers stay linked, unreferenced), and junk.
  await push(a, "acme/race:v1");
  await push(junk, "acme/junk:v1");
  for (const [repo, l] of [["acme/race", a], ["acme/junk", junk]] as const) expect((await c.call("DELETE", `/v2/${repo}/manifests/${l.manifestDigest}`)).status).toBe(202);
  await Bun.sleep(GRACE_S * 1000 + 300);

  let racing = true;
  const reports: GcReport[] = [];
  const collector = (async () => {
    while (racing) {
      reports.push(await reg.running.gc.run());
      await Bun.sleep(5);
    }
  })();
  try {
    await push(a, "acme/race:v2"); // the same layers: old garbage, found by HEAD and named again
    await push(b, "acme/race-b:v1");
    await copy("acme/race:v2", "acme/race-copy:v1"); // mounts A's layers from acme/race
  } finally {
    racing = false;
    await collector;
  }
  expect(reports.length).toBeGreaterThan(3);
  expect(reports.reduce((n, r) => n + r.blobsSwept, 0)).toBeGreaterThanOrEqual(1);
  expect(stored(junk.layers[0]!)).toBe(false); // the junk went during the race

  // Everything is past the grace now: only the tags keep the images.
  await Bun.sleep(GRACE_S * 1000 + 300);
  await reg.running.gc.run();
  for (const [ref, l] of [["acme/race:v2", a], ["acme/race-b:v1", b], ["acme/race-copy:v1", a]] as const) {
    const out = join(work, ref.replace(/[/:]/g, "-"));
    await skopeo("copy", "--src-tls-verify=false", "--src-registry-token", token, `docker://${reg.hostPort}/${ref}`, `oci:${out}:v1`);
    for (const d of l.layers) expect(Buffer.compare(blobOf(out, d), blobOf(l.dir, d))).toBe(0);
  }
}, 120_000);

test("skopeo's sequence, step by step: a stale blob a client has just checked survives a collection until its manifest names it", async () => {
  const c = client(reg.url, token);
  const config = new TextEncoder().encode('{"os":"linux","race":"steps"}');
  const layer = seeded("race-steps", 20_000);
  await c.pushBlob("acme/steps", config);
  await c.pushBlob("acme/steps", layer);
  await Bun.sleep(GRACE_S * 1000 + 300); // both are old, unreferenced garbage now
  for (const d of [config, layer]) expect((await c.call("HEAD", `/v2/acme/steps/blobs/${sha256(d)}`)).status).toBe(200); // "already there"
  const r = await reg.running.gc.run(); // between the client's HEADs and its manifest
  expect(r.blobsSwept + r.blobLinksRemoved).toBe(0);
  expect((await c.putManifest("acme/steps", "v1", imageManifest(config, [layer]))).status).toBe(201);
  const unchecked = await c.pushBlob("acme/steps", seeded("race-unchecked", 1000));
  await Bun.sleep(GRACE_S * 1000 + 300);
  await reg.running.gc.run();
  expect(stored(unchecked)).toBe(false); // what nobody checked or named goes
  expect((await c.call("GET", `/v2/acme/steps/blobs/${sha256(layer)}`)).status).toBe(200);
}, 60_000);
