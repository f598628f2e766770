/**
 * Registry operations benchmark: `bun scripts/bench/registry-ops.ts [--repos 300] [--tags 3] [--orgs 10] [--runs 20]`.
 * The registry service (in this process, its own nats-server) holding `repos` repositories spread over
 * `orgs` organisations, each with `tags` tags over one small image; then the admin API's answers as an
 * operator (every org) and as one org's member, and a /metrics scrape, each `runs` times: p50 and p95.
 * The listings and usage walk the metadata per request (they are not cached); /metrics walks nothing.
 * Temp data is removed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats } from "../../test/support/nats.ts";
import { recordedToken } from "../../test/support/tokens.ts";
import { startRegistryService } from "../../src/registry/server.ts";
import { registrySettings } from "../../src/registry/config.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { percentile, printTable } from "./lib.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const REPOS = arg("repos", 300);
const TAGS = arg("tags", 3);
const ORGS = arg("orgs", 10);
const RUNS = arg("runs", 20);
const SECRET = "bench-registry-ops-secret-0123456789abcdef";

const sha = (b: string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const nats = await startNats();
const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-registry-ops-"));
const reg = await startRegistryService({
  ...loadConfig(registrySettings, { NIMBUS_AUTH_SECRET: SECRET }),
  host: "127.0.0.1", port: 0, dir, maxManifestBytes: 4 * 1024 * 1024, maxBlobBytes: 1024 ** 3,
  externalUrl: "", publicOrgs: [], tokenTtlSeconds: 300, metrics: true, orgQuotaBytes: 0,
  authSecret: SECRET, natsUrl: nats.url, natsToken: "", natsUser: "", natsPassword: "", natsReplicas: 1,
});
try {
  const operator = await recordedToken(nats.url, SECRET, { sub: "bench", role: "operator", ttlSeconds: 3600 });
  const member = await recordedToken(nats.url, SECRET, { sub: "bench-member", role: "member", org: "org-0", ttlSeconds: 3600 });
  const call = (method: string, path: string, token: string, body?: string, type = "application/octet-stream") =>
    fetch(`${reg.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": type }, body });

  const t0 = performance.now();
  const push = async (i: number) => {
    const repo = `org-${i % ORGS}/app-${i}`;
    const config = JSON.stringify({ os: "linux", n: i });
    const layer = `layer ${i} `.repeat(100);
    for (const b of [config, layer]) if ((await call("POST", `/v2/${repo}/blobs/uploads/?digest=${sha(b)}`, operator, b)).status !== 201) throw new Error(`blob ${repo}`);
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: layer.length }],
    });
    for (let t = 0; t < TAGS; t++)
      if ((await call("PUT", `/v2/${repo}/manifests/v${t}`, operator, manifest, "application/vnd.oci.image.manifest.v1+json")).status !== 201) throw new Error(`manifest ${repo}`);
  };
  for (let i = 0; i < REPOS; i += 16) await Promise.all(Array.from({ length: Math.min(16, REPOS - i) }, (_, k) => push(i + k)));
  const fillMs = performance.now() - t0;

  const time = async (label: string, path: string, token: string) => {
    const ms: number[] = [];
    let size = 0;
    for (let r = 0; r < RUNS; r++) {
      const s = performance.now();
      const res = await call("GET", path, token);
      const text = await res.text();
      ms.push(performance.now() - s);
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text.slice(0, 200)}`);
      size = text.length;
    }
    return { request: label, "p50 ms": percentile(ms, 50), "p95 ms": percentile(ms, 95), "answer KiB": size / 1024 };
  };
  const rows = [
    await time(`repositories, every org (${REPOS})`, "/v1/registry/repositories?limit=10000", operator),
    await time(`repositories, one org (${Math.ceil(REPOS / ORGS)})`, "/v1/registry/repositories", member),
    await time("usage, every org", "/v1/registry/usage", operator),
    await time("usage, one org", "/v1/registry/usage", member),
    await time(`tags of one repository (${TAGS})`, "/v1/registry/tags?repo=org-0/app-0", member),
    await time("/metrics", "/metrics", operator),
  ];
  printTable(`Registry admin API: ${REPOS} repositories in ${ORGS} orgs, ${TAGS} tags each (filled in ${(fillMs / 1000).toFixed(1)} s), ${RUNS} runs`, rows);
} finally {
  await reg.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}
