/**
 * Registry benchmark: `bun scripts/bench/registry.ts [--size-mib 500] [--layers 5] [--rounds 3] [--cold-runs 9] [--skip-cache]`.
 *
 * 1. Push then pull with skopeo: an OCI layout of `--layers` layers of random bytes (tars, together
 *    about `--size-mib`), generated in a temp dir, copied to Nimbus's registry (its own process,
 *    filesystem storage) and to the Debian `docker-registry` (the reference Go implementation), both
 *    with their data on the same disk, then pulled back into a fresh OCI layout. ABBA order in every
 *    round (Nimbus, reference, reference, Nimbus), each push into an empty registry (restarted on a
 *    fresh data dir, so no blob is already there or mountable). Target: Nimbus's time ≤ the reference's.
 * 2. Cold blob GET: the largest layer's file dropped from the page cache, then one GET with curl,
 *    against a cold raw read of the same file (dd bs=8M), interleaved; for Nimbus's registry, the
 *    reference, and (through the same blob storage module) the Actions cache service, whose archive
 *    is the same bytes. Target: ≥ 70 % of the raw read.
 * 3. Serving paths (a profile aid): the same cold file from a bare Bun.serve via sendfile alone,
 *    via a read-ahead stream (./read-stream.ts: no Content-Length under Bun.serve, so not used by
 *    the services), via sendfile beside a read-ahead that copies through user space, and via
 *    sendfile after posix_fadvise(WILLNEED) (src/blobs/backend/warm.ts, what the registry and the
 *    cache do), to show where the cold time goes.
 *
 * The page cache is dropped per file with posix_fadvise(DONTNEED) (GNU dd `iflag=nocache count=0`),
 * after an fsync, so other processes' caches are left alone; the method is printed. Temp data is removed.
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats, type NatsServer } from "../../test/support/nats.ts";
import { recordedToken } from "../../test/support/tokens.ts";
import { freePort, waitFor } from "../../test/support/net.ts";
import { mintRuntimeToken } from "../../src/protocol/cache-token.ts";
import { fileStream } from "./read-stream.ts";
import { fsStore } from "../../src/blobs/backend/fs.ts";

const MiB = 1024 * 1024;
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SIZE_MIB = arg("--size-mib", 500);
const LAYERS = arg("--layers", 5);
const ROUNDS = arg("--rounds", 3);
const COLD_RUNS = arg("--cold-runs", 9);
const SKIP_CACHE = process.argv.includes("--skip-cache");
const SECRET = "bench-secret-0123456789abcdef0123456789";
const root = join(tmpdir(), `nimbus-registry-bench-${process.pid}`);
const REPO_ROOT = join(import.meta.dir, "../..");
const DROP_METHOD = "posix_fadvise(POSIX_FADV_DONTNEED) on each file, through GNU dd iflag=nocache count=0, after sync";

async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.slice(0, 3).join(" ")}: exit ${code}: ${err.slice(-2000)}`);
  return out;
}
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sha256File = async (path: string) => {
  const h = new Bun.CryptoHasher("sha256");
  const r = Bun.file(path).stream().getReader();
  for (let x = await r.read(); !x.done; x = await r.read()) h.update(x.value);
  return h.digest("hex");
};

async function dropCache(file: string) {
  await run(["sync", file]);
  await run(["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"]);
}

/** GET with curl into /dev/null; the bytes received. */
async function curlGet(url: string, headers: Record<string, string> = {}): Promise<number> {
  const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  return Number(await run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", ...h, url]));
}

// ---------- the image ----------

interface Image { dir: string; bytes: number; layers: { digest: string; size: number }[] }

/**
 * An OCI layout of LAYERS gzipped tar layers (gzip -1; skopeo would gzip uncompressed layers on
 * every push, timing its own CPU), each one file of random bytes, layer sizes growing by a quarter.
 */
async function makeImage(dir: string): Promise<Image> {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  const work = join(dir, "..", "layer-src");
  const layers: Image["layers"] = [];
  const diffIds: string[] = [];
  const weights = Array.from({ length: LAYERS }, (_, i) => 1 + i * 0.25);
  const total = weights.reduce((a, b) => a + b, 0);
  const buf = Buffer.alloc(8 * MiB);
  for (const [i, w] of weights.entries()) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const n = Math.floor((SIZE_MIB * MiB * w) / total);
    const fh = await open(join(work, `layer-${i}.bin`), "w");
    for (let off = 0; off < n; off += buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, n - off), off);
    }
    await fh.close();
    const tar = join(dir, "layer.tar.gz");
    await run(["sh", "-c", 'tar --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . | gzip -1 -n > "$2"', "sh", work, tar]);
    diffIds.push(`sha256:${(await run(["sh", "-c", 'gzip -dc "$1" | sha256sum', "sh", tar])).slice(0, 64)}`);
    const digest = await sha256File(tar);
    await run(["mv", tar, join(dir, "blobs/sha256", digest)]);
    layers.push({ digest: `sha256:${digest}`, size: statSync(join(dir, "blobs/sha256", digest)).size });
  }
  rmSync(work, { recursive: true, force: true });
  const put = (bytes: string) => {
    const d = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    writeFileSync(join(dir, "blobs/sha256", d), bytes);
    return { digest: `sha256:${d}`, size: Buffer.byteLength(bytes) };
  };
  const config = put(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: diffIds } }));
  const manifest = put(JSON.stringify({
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
  }));
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": "v1" } }] }));
  await run(["sync"]); // the layout's write-back must not land in a timed run
  return { dir, bytes: layers.reduce((a, l) => a + l.size, 0), layers };
}

// ---------- the two registries ----------

interface Registry {
  name: string;
  hostPort: string;
  /** skopeo flags to authenticate (none for the reference). */
  auth(dir: "src" | "dest"): string[];
  headers: Record<string, string>;
  /** Where a blob's bytes sit on disk. */
  blobFile(digest: string): string;
  /** Stop, wipe the data dir, start empty. */
  fresh(): Promise<void>;
  stop(): Promise<void>;
}

async function nimbusRegistry(nats: NatsServer): Promise<Registry> {
  const port = await freePort();
  const dir = join(root, "nimbus-data");
  const token = await recordedToken(nats.url, SECRET, { sub: "bench", role: "org-admin", org: "bench", ttlSeconds: 3600 });
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const stop = async () => {
    proc?.kill();
    await proc?.exited;
    proc = undefined;
  };
  return {
    name: "nimbus",
    hostPort: `127.0.0.1:${port}`,
    auth: (d) => [`--${d}-registry-token`, token],
    headers: { authorization: `Bearer ${token}` },
    blobFile: (d) => join(dir, "blobs/sha256", d.slice(7, 9), d.slice(7)),
    async fresh() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      proc = Bun.spawn([process.execPath, "src/registry/main.ts"], {
        cwd: REPO_ROOT,
        env: { ...process.env, NIMBUS_REGISTRY_PORT: String(port), NIMBUS_REGISTRY_DIR: dir, NIMBUS_AUTH_SECRET: SECRET, NIMBUS_NATS_URL: nats.url, NIMBUS_LOG_LEVEL: "warn" },
        stdout: "ignore", stderr: "inherit",
      });
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => null)) !== null, 15_000, "nimbus registry");
    },
    stop,
  };
}

async function referenceRegistry(): Promise<Registry> {
  const port = await freePort();
  const dir = join(root, "reference-data");
  const config = join(root, "reference.yml");
  writeFileSync(config, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dir}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`);
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const stop = async () => {
    proc?.kill();
    await proc?.exited;
    proc = undefined;
  };
  return {
    name: "docker-registry",
    hostPort: `127.0.0.1:${port}`,
    auth: () => [],
    headers: {},
    blobFile: (d) => join(dir, "docker/registry/v2/blobs/sha256", d.slice(7, 9), d.slice(7), "data"),
    async fresh() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      proc = Bun.spawn(["docker-registry", "serve", config], { stdout: "ignore", stderr: "ignore" }); // it logs every 404 (a HEAD before each upload) as an error
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => null)) !== null, 15_000, "docker-registry");
    },
    stop,
  };
}

// ---------- push and pull ----------

const SKOPEO_ENV = () => ({ REGISTRY_AUTH_FILE: join(root, "auth.json") });

async function pushPull(r: Registry, img: Image, round: number, times: Map<string, number[]>) {
  await r.fresh();
  const ref = `docker://${r.hostPort}/bench/app:v1`;
  const push = await timed(() => run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", ...r.auth("dest"), `oci:${img.dir}:v1`, ref], SKOPEO_ENV()));
  const out = join(root, `pulled-${r.name}-${round}`);
  const pull = await timed(() => run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ...r.auth("src"), ref, `oci:${out}:v1`], SKOPEO_ENV()));
  const names = readdirSync(join(out, "blobs/sha256"));
  for (const l of img.layers) if (!names.includes(l.digest.slice(7))) throw new Error(`${r.name}: layer ${l.digest} missing after the pull`);
  rmSync(out, { recursive: true, force: true });
  (times.get(`${r.name} push`) ?? times.set(`${r.name} push`, []).get(`${r.name} push`)!).push(push);
  (times.get(`${r.name} pull`) ?? times.set(`${r.name} pull`, []).get(`${r.name} pull`)!).push(pull);
  console.error(`round ${round} ${r.name}: push ${(push / 1000).toFixed(2)} s, pull ${(pull / 1000).toFixed(2)} s`);
}

// ---------- cold reads ----------

interface ColdCase { name: string; file: string; get(): Promise<number> }

/** Per case: GET times, raw times, and the ratio of each pair (raw / GET, run back to back). */
async function coldReads(cases: ColdCase[], bytes: number): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>();
  const add = (k: string, ms: number) => (times.get(k) ?? times.set(k, []).get(k)!).push(ms);
  const last = (k: string) => times.get(k)!.at(-1)!;
  for (let i = 0; i < COLD_RUNS; i++) {
    for (const c of i % 2 ? [...cases].reverse() : cases) { // a noisy moment on the shared disk hits every row alike
      await dropCache(c.file);
      add(`raw: ${c.name}`, await timed(() => run(["dd", `if=${c.file}`, "of=/dev/null", "bs=8M", "status=none"])));
      await dropCache(c.file);
      let n = 0;
      add(c.name, await timed(async () => void (n = await c.get())));
      if (n !== bytes) throw new Error(`${c.name}: ${n} bytes, not ${bytes}`);
      add(`ratio: ${c.name}`, last(`raw: ${c.name}`) / last(c.name));
    }
  }
  return times;
}

/** The Actions cache service (its own process, filesystem storage) holding `file` as one entry (v1, one chunk). */
async function cacheWith(nats: NatsServer, file: string, size: number): Promise<{ file: string; url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const data = join(root, "cache-data");
  const proc = Bun.spawn([process.execPath, "src/cache/main.ts"], {
    cwd: REPO_ROOT,
    env: { ...process.env, NIMBUS_CACHE_PORT: String(port), NIMBUS_CACHE_DB: join(root, "cache.sqlite"), NIMBUS_CACHE_DIR: data, NIMBUS_AUTH_SECRET: SECRET, NIMBUS_NATS_URL: nats.url, NIMBUS_LOG_LEVEL: "warn", NIMBUS_CACHE_REPO_QUOTA_BYTES: "0" },
    stdout: "ignore", stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok ?? false, 15_000, "cache service");
  const token = await mintRuntimeToken(SECRET, { repo: "bench/repo", scopes: [{ scope: "refs/heads/main", permission: 3 }], ttlSeconds: 3600 });
  const h = { authorization: `Bearer ${token}` };
  const ok = async (r: Response, what: string) => {
    if (!r.ok) throw new Error(`cache ${what}: ${r.status} ${await r.text()}`);
    return r;
  };
  const { cacheId } = (await (await ok(await fetch(`${url}/_apis/artifactcache/caches`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: JSON.stringify({ key: "bench", version: "v", cacheSize: size }) }), "reserve")).json()) as { cacheId: number };
  await ok(await fetch(`${url}/_apis/artifactcache/caches/${cacheId}`, { method: "PATCH", headers: { ...h, "content-type": "application/octet-stream", "content-range": `bytes 0-${size - 1}/*` }, body: Bun.file(file) }), "patch");
  await ok(await fetch(`${url}/_apis/artifactcache/caches/${cacheId}`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: JSON.stringify({ size }) }), "commit");
  const hit = (await (await ok(await fetch(`${url}/_apis/artifactcache/cache?keys=bench&version=v`, { headers: h }), "lookup")).json()) as { archiveLocation: string };
  const id = Number(/\/e\/(\d+)/.exec(hit.archiveLocation)![1]);
  return { file: join(data, `objects/e/${id}/data`), url: hit.archiveLocation, stop: async () => { proc.kill(); await proc.exited; } };
}

/**
 * A bare Bun.serve serving object `name` of the filesystem store at `dir` three ways (see the
 * header): where the cold time goes, without the services' routing, auth and logging.
 */
function servingPaths(dir: string, name: string, size: number): { cases: ColdCase[]; stop(): void } {
  const plain = fsStore(dir, { readAheadFrom: false });
  const product = fsStore(dir);
  const file = join(dir, "objects", name);
  /** Read the file through user space in the thread pool, 4 x 2 MiB in flight, throwing the bytes away. */
  const copyWarmer = async () => {
    const fh = await open(file, "r");
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      const buf = new Uint8Array(2 * MiB);
      while (next < size) {
        const at = next;
        next += buf.length;
        await fh.read(buf, 0, Math.min(buf.length, size - at), at);
      }
    }));
    await fh.close();
  };
  const server = Bun.serve({
    port: 0,
    async fetch(r) {
      const p = new URL(r.url).pathname;
      if (p === "/sendfile") return new Response(await plain.read(name, 0, size - 1));
      if (p === "/stream") return new Response(fileStream(file, 0, size - 1));
      if (p === "/copy") return void copyWarmer(), new Response(await plain.read(name, 0, size - 1));
      if (p === "/warmer") return new Response(await product.read(name, 0, size - 1));
      return new Response(null, { status: 404 });
    },
  });
  const get = (p: string) => () => curlGet(`http://127.0.0.1:${server.port}${p}`);
  return {
    cases: [
      { name: "bare Bun.serve: sendfile (Bun.file)", file, get: get("/sendfile") },
      { name: "bare Bun.serve: read-ahead stream (2 MiB x 4)", file, get: get("/stream") },
      { name: "bare Bun.serve: sendfile + a copying read-ahead (4 x 2 MiB reads)", file, get: get("/copy") },
      { name: "bare Bun.serve: sendfile + fadvise WILLNEED (the product's)", file, get: get("/warmer") },
    ],
    stop: () => server.stop(true),
  };
}

// ---------- report ----------

function table(title: string, header: string[], rows: string[][]) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  console.log(`\n${title}\n\n${line(header)}\n|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

mkdirSync(root, { recursive: true });
writeFileSync(join(root, "auth.json"), "{}");
const nats = await startNats();
const regs: Registry[] = [];
try {
  console.log(`command: bun scripts/bench/registry.ts ${process.argv.slice(2).join(" ")}`.trimEnd());
  console.log(`page cache: ${DROP_METHOD}`);
  const img = await makeImage(join(root, "image"));
  console.log(`image: ${img.layers.length} layers, ${(img.bytes / MiB).toFixed(0)} MiB (gzipped tars of random bytes), OCI layout in a temp dir; both registries' data on the same disk`);
  const nimbus = await nimbusRegistry(nats);
  const ref = await referenceRegistry();
  regs.push(nimbus, ref);

  const times = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) for (const r of [nimbus, ref, ref, nimbus]) await pushPull(r, img, round, times);
  const rows = (["push", "pull"] as const).map((op) => {
    const n = median(times.get(`nimbus ${op}`)!);
    const d = median(times.get(`docker-registry ${op}`)!);
    return [op, (n / 1000).toFixed(2), (d / 1000).toFixed(2), (n / d).toFixed(2), n <= d ? "met" : "not met"];
  });
  table(`skopeo push then pull, ${(img.bytes / MiB).toFixed(0)} MiB in ${img.layers.length} layers (median of ${ROUNDS * 2} each, ABBA order)`,
    ["op", "nimbus s", "docker-registry s", "nimbus / reference", "target ≤ 1.00"], rows);

  // Cold reads of the largest layer: both registries hold it (the last push of each round left it there).
  const big = img.layers.reduce((a, l) => (l.size > a.size ? l : a));
  await nimbus.fresh();
  await ref.fresh();
  for (const r of [nimbus, ref]) await run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", ...r.auth("dest"), `oci:${img.dir}:v1`, `docker://${r.hostPort}/bench/app:v1`], SKOPEO_ENV());
  const cases: ColdCase[] = [nimbus, ref].map((r) => ({
    name: `${r.name}: GET blob`,
    file: r.blobFile(big.digest),
    get: () => curlGet(`http://${r.hostPort}/v2/bench/app/blobs/${big.digest}`, r.headers),
  }));
  let cache: Awaited<ReturnType<typeof cacheWith>> | undefined;
  if (!SKIP_CACHE) {
    cache = await cacheWith(nats, join(img.dir, "blobs/sha256", big.digest.slice(7)), big.size);
    cases.push({ name: "nimbus cache: GET archive", file: cache.file, get: () => curlGet(cache!.url) });
  }
  const bare = join(root, "bare");
  mkdirSync(join(bare, "objects/b/1"), { recursive: true });
  await run(["cp", join(img.dir, "blobs/sha256", big.digest.slice(7)), join(bare, "objects/b/1/layer")]);
  const paths = servingPaths(bare, "b/1/layer", big.size);
  cases.push(...paths.cases);
  try {
    const cold = await coldReads(cases, big.size);
    table(`cold read of one ${(big.size / MiB).toFixed(0)} MiB blob: GET (curl) against a cold raw read of the same file (dd bs=8M), median of ${COLD_RUNS}`,
      ["what", "GET s", "raw s", "GET MiB/s", "GET / raw (pairs: median, min-max)", "target ≥ 70 %"],
      cases.map((c) => {
        const g = median(cold.get(c.name)!);
        const raw = median(cold.get(`raw: ${c.name}`)!);
        const ratios = cold.get(`ratio: ${c.name}`)!;
        const ratio = median(ratios);
        const pct = (x: number) => `${Math.round(x * 100)} %`;
        return [c.name, (g / 1000).toFixed(2), (raw / 1000).toFixed(2), (big.size / MiB / (g / 1000)).toFixed(0), `${pct(ratio)} (${pct(Math.min(...ratios))}-${pct(Math.max(...ratios))})`, c.name.startsWith("bare") ? "(profile)" : ratio >= 0.7 ? "met" : "not met"];
      }));
  } finally {
    paths.stop();
    await cache?.stop();
  }
  console.log(`\nGET / raw: for each GET, the raw read of the same file just before it over the GET's time (a throughput ratio); the median of those pairs, so a slow moment on the shared disk counts against both; rows interleaved, order reversed every other run.`);
} finally {
  for (const r of regs) await r.stop();
  await nats.stop();
  rmSync(root, { recursive: true, force: true });
}
