/**
 * Registry garbage collection benchmark: `bun scripts/bench/registry-gc.ts [--repos 200] [--images 10]`.
 * Builds a registry's data directly through its stores (the real filesystem blob store and metadata,
 * no HTTP): `repos` repositories of `images` images each (a config, three small layers shared by a
 * few images, a manifest), every other image untagged, then measures how long org usage takes to
 * load at start, a dry run and a real collection (which removes the untagged half and sweeps what
 * only they named), and a second, idle collection. Temp data is removed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestOf } from "../../src/blobs/digest.ts";
import { createLogger } from "../../src/core/log.ts";
import { collectGarbage } from "../../src/registry/gc/collect.ts";
import type { GcDeps } from "../../src/registry/gc/policy.ts";
import { Pins } from "../../src/registry/pins.ts";
import { OrgUsage } from "../../src/registry/quota/usage.ts";
import { openRegistryStores } from "../../src/registry/server.ts";
import { registrySettings } from "../../src/registry/config.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { printTable } from "./lib.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const REPOS = arg("repos", 200);
const IMAGES = arg("images", 10);
const enc = new TextEncoder();

const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-gc-"));
try {
  const stores = await openRegistryStores(dir, loadConfig(registrySettings, { NIMBUS_AUTH_SECRET: "bench-registry-gc-secret-0123456789abcdef" }), createLogger("bench"));
  const t0 = performance.now();
  for (let r = 0; r < REPOS; r++) {
    const repo = `org${r % 10}/app${r}`;
    for (let i = 0; i < IMAGES; i++) {
      const config = enc.encode(JSON.stringify({ os: "linux", repo, i }));
      const layers = [0, 1, 2].map((k) => enc.encode(`layer ${repo} ${Math.floor(i / 3)} ${k} `.repeat(64)));
      const blobs = [config, ...layers];
      for (const b of blobs) {
        const s = await stores.blobs.putBytes(b);
        await stores.repos.linkBlob(repo, s.digest, s.size);
      }
      const manifest = enc.encode(JSON.stringify({
        schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.byteLength },
        layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: digestOf(l), size: l.byteLength })),
      }));
      const m = await stores.blobs.putBytes(manifest);
      await stores.repos.putManifest(repo, { digest: m.digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: m.size });
      if (i % 2 === 0) await stores.repos.setTag(repo, `v${i}`, m.digest);
    }
  }
  const buildMs = performance.now() - t0;
  await Bun.sleep(20); // everything past the (2 ms) grace window
  const usage = new OrgUsage();
  const l0 = performance.now();
  await usage.load(stores.repos);
  const loadMs = performance.now() - l0;
  stores.repos.observe(usage);
  const d: GcDeps = { ...stores, pins: new Pins(2), usage, policy: { graceMs: 2, untaggedMs: 0, uploadIdleMs: 3_600_000 }, log: createLogger("bench") };
  const dry = await collectGarbage(d, undefined, { dryRun: true });
  const real = await collectGarbage(d, undefined);
  const idle = await collectGarbage(d, undefined);
  printTable(`Registry GC: ${REPOS} repositories x ${IMAGES} images (half untagged), build ${(buildMs / 1000).toFixed(1)} s`, [
    // Every image has five links (config, three layers, manifest); the run rows count live digests.
    { step: "org usage load at start", ms: Math.round(loadMs), "links read / digests live": REPOS * IMAGES * 5, removed: "-", swept: "-" },
    ...[["dry run", dry], ["collection", real], ["idle collection", idle]].map(([step, r]) => {
      const rep = r as typeof real;
      return { step: step as string, ms: rep.durationMs, "links read / digests live": rep.marked, removed: rep.manifestsRemoved + rep.blobLinksRemoved, swept: `${rep.blobsSwept} (${(rep.bytesSwept / 1024).toFixed(0)} KiB)` };
    }),
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
