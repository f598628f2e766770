/**
 * Registry benchmark: `bun scripts/bench/registry.ts [--runs 3] [--size-mib 500] [--layers 6] [--blob-mib 256] [--cold-runs 5] [--skip-cache] [--profile]`.
 *
 * 1. Push then pull with skopeo: an OCI layout of `--layers` gzipped tar layers of random bytes
 *    (one of `--blob-mib`, the rest splitting what is left of `--size-mib`), generated in a temp dir,
 *    copied (`oci:DIR` → `docker://HOST/bench/app:v1`, then back into a fresh `oci:` dir) to Nimbus's
 *    registry (its own process, as `nimbus up` starts it, filesystem storage; skopeo logs in with
 *    `--dest-creds`/`--src-creds` and a Nimbus token, the Docker token flow) and to the Debian
 *    `docker-registry` (the reference Go implementation, no auth), both with their data on the same
 *    disk. ABBA order in every run (Nimbus, reference, reference, Nimbus), each push into an empty
 *    registry (restarted on a fresh data dir, so no blob is already there or mountable); the pulled
 *    layers are checked against the pushed digests. Target: Nimbus's median ≤ the reference's.
 * 2. Cold blob download: the `--blob-mib` layer, its stored file dropped from the page cache, then one
 *    GET with curl (`/v2/bench/app/blobs/DIGEST` on each registry; the Actions cache's v1 download
 *    URL for an entry holding the same bytes: the cache and the registry share src/blobs/), each paired
 *    with a cold raw read of the same stored file (`cat FILE > /dev/null`) just before it; the ratio
 *    is raw time / GET time per pair, and the table shows the median pair. Target: ≥ 70 % (Nimbus's
 *    registry and cache; the reference's row is for comparison). The GET must carry a Content-Length.
 *    `--profile` adds a bare Bun.serve sending the same file with sendfile alone (what the services
 *    do) and with posix_fadvise(WILLNEED) first (./willneed.ts, what they did before), and a warm GET
 *    (the file in the page cache): the cost of the transfer itself on this machine.
 *
 * The page cache is dropped per file with posix_fadvise(POSIX_FADV_DONTNEED) after fsync (GNU dd
 * `iflag=nocache count=0`), not with /proc/sys/vm/drop_caches: the machine is shared, and a global
 * drop per sample would empty the other users' caches dozens of times. Before each drop the disk must
 * have no request in flight (/proc/diskstats), so a read-ahead still running cannot refill the page
 * cache behind the drop. Temp data is removed at the end.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { percentile, printTable } from "./lib.ts";
import { startNats, type NatsServer } from "../../test/support/nats.ts";
import { recordedToken } from "../../test/support/tokens.ts";
import { freePort, waitFor } from "../../test/support/net.ts";
import { mintRuntimeToken } from "../../src/protocol/cache-token.ts";
import { warm } from "./willneed.ts";

const MiB = 1024 * 1024;
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("--runs", 3);
const SIZE_MIB = arg("--size-mib", 500);
const LAYERS = arg("--layers", 6);
const BLOB_MIB = arg("--blob-mib", 256);
const COLD_RUNS = arg("--cold-runs", 5);
const SKIP_CACHE = process.argv.includes("--skip-cache");
const PROFILE = process.argv.includes("--profile");
const SECRET = "bench-secret-0123456789abcdef0123456789";
const root = join(tmpdir(), `nimbus-registry-bench-${process.pid}`);
const REPO_ROOT = join(import.meta.dir, "../..");
const median = (xs: number[]) => percentile(xs, 50);
const secs = (ms: number) => (ms / 1000).toFixed(2);
const pct = (x: number) => `${Math.round(x * 100)} %`;

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
function push<T>(m: Map<string, T[]>, k: string, v: T) {
  (m.get(k) ?? m.set(k, []).get(k)!).push(v);
}

// ---------- the page cache ----------

/** Reads and writes in flight on the block devices (field 12 of /proc/diskstats), partitions excluded. */
function inFlight(): number {
  let n = 0;
  for (const line of readFileSync("/proc/diskstats", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length > 11 && /^([sv]d[a-z]+|xvd[a-z]+|nvme\d+n\d+)$/.test(f[2]!)) n += Number(f[11]);
  }
  return n;
}

/** Wait (at most 5 s) until the disks have been idle for 3 samples in a row, 20 ms apart. */
async function settle() {
  const until = performance.now() + 5000;
  for (let idle = 0; idle < 3 && performance.now() < until; ) {
    idle = inFlight() === 0 ? idle + 1 : 0;
    await Bun.sleep(20);
  }
}

/** Pages of `file` in the page cache (fincore). */
async function cachedBytes(file: string): Promise<number> {
  return Number((await run(["fincore", "--bytes", "--noheadings", "--output", "RES", file])).trim());
}

/** Drop `file` from the page cache, checked with fincore (a page still in use is kept: try again). */
async function dropCache(file: string) {
  for (let tries = 0; ; tries++) {
    await settle();
    await run(["sync", file]);
    await run(["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"]);
    const left = await cachedBytes(file);
    if (left <= 1024 * 1024) return;
    if (tries === 20) throw new Error(`${file}: ${left} bytes still in the page cache after 20 drops`);
    await Bun.sleep(100);
  }
}

/** GET with curl into /dev/null: bytes received and whether the answer had a Content-Length. */
async function curlGet(url: string, headers: Record<string, string> = {}): Promise<{ bytes: number; length: boolean }> {
  const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const out = await run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %header{content-length}", ...h, url]);
  const [bytes, length] = out.trim().split(" ");
  return { bytes: Number(bytes), length: !!length };
}

// ---------- the image ----------

interface Layer { digest: string; size: number }
interface Image { dir: string; bytes: number; layers: Layer[]; big: Layer }

/**
 * An OCI layout of LAYERS gzipped tar layers (gzip -1: skopeo would compress uncompressed layers on
 * every push, timing its own CPU), each one file of random bytes: the first BLOB_MIB, the others
 * sharing the rest of SIZE_MIB.
 */
async function makeImage(dir: string): Promise<Image> {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  const work = join(dir, "..", "layer-src");
  const sizes = [BLOB_MIB * MiB, ...Array.from({ length: LAYERS - 1 }, () => Math.floor(((SIZE_MIB - BLOB_MIB) * MiB) / (LAYERS - 1)))];
  const layers: Layer[] = [];
  const diffIds: string[] = [];
  const buf = Buffer.alloc(8 * MiB);
  for (const [i, n] of sizes.entries()) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const fh = await open(join(work, `layer-${i}.bin`), "w");
    for (let off = 0; off < n; off += buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, n - off), off);
    }
    await fh.close();
    const tar = join(dir, "layer.tar.gz");
    await run(["sh", "-c", 'tar --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . | gzip -1 -n > "$2"', "sh", work, tar]);
    diffIds.push(`sha256:${(await run(["sh", "-c", 'gzip -dc "$1" | sha256sum', "sh", tar])).slice(0, 64)}`);
    const digest = (await run(["sha256sum", tar])).slice(0, 64);
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
  return { dir, bytes: layers.reduce((a, l) => a + l.size, 0), layers, big: layers[0]! };
}

// ---------- the two registries ----------

interface Registry {
  name: string;
  hostPort: string;
  /** skopeo flags to log in (none for the reference). */
  creds(dir: "src" | "dest"): string[];
  /** Headers for a direct GET. */
  headers(): Promise<Record<string, string>>;
  /** Where a blob's bytes sit on disk. */
  blobFile(digest: string): string;
  /** Stop, wipe the data dir, start empty. */
  fresh(): Promise<void>;
  stop(): Promise<void>;
}

function spawned(name: string, dir: string, hostPort: string, cmd: string[], env: Record<string, string>) {
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const stop = async () => {
    proc?.kill();
    await proc?.exited;
    proc = undefined;
  };
  return {
    stop,
    async fresh() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      // docker-registry logs every 404 (skopeo's HEAD before each upload) as an error: its output is dropped.
      proc = Bun.spawn(cmd, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdout: "ignore", stderr: name === "nimbus" ? "inherit" : "ignore" });
      await waitFor(async () => (await fetch(`http://${hostPort}/v2/`).catch(() => null)) !== null, 15_000, name);
    },
  };
}

async function nimbusRegistry(nats: NatsServer): Promise<Registry> {
  const port = await freePort();
  const hostPort = `127.0.0.1:${port}`;
  const dir = join(root, "nimbus-data");
  const token = await recordedToken(nats.url, SECRET, { sub: "bench", role: "org-admin", org: "bench", ttlSeconds: 3600 });
  const p = spawned("nimbus", dir, hostPort, [process.execPath, "src/registry/main.ts"], {
    NIMBUS_REGISTRY_PORT: String(port), NIMBUS_REGISTRY_DIR: dir, NIMBUS_AUTH_SECRET: SECRET, NIMBUS_NATS_URL: nats.url, NIMBUS_LOG_LEVEL: "warn",
  });
  return {
    name: "nimbus",
    hostPort,
    creds: (d) => [`--${d}-creds`, `bench:${token}`],
    async headers() {
      // The token flow, as a client does it: Basic with the Nimbus token at the realm, then Bearer.
      const ch = (await fetch(`http://${hostPort}/v2/`)).headers.get("www-authenticate") ?? "";
      const realm = /realm="([^"]+)"/.exec(ch)?.[1];
      const service = /service="([^"]+)"/.exec(ch)?.[1] ?? "";
      if (!realm) throw new Error(`nimbus: no Bearer challenge on /v2/ (${ch})`);
      const url = `${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent("repository:bench/app:pull")}`;
      const r = await fetch(url, { headers: { authorization: `Basic ${btoa(`bench:${token}`)}` } });
      if (!r.ok) throw new Error(`nimbus token endpoint: ${r.status} ${await r.text()}`);
      const body = (await r.json()) as { token?: string; access_token?: string };
      return { authorization: `Bearer ${body.token ?? body.access_token}` };
    },
    blobFile: (d) => join(dir, "blobs/sha256", d.slice(7, 9), d.slice(7)),
    ...p,
  };
}

async function referenceRegistry(): Promise<Registry> {
  const port = await freePort();
  const hostPort = `127.0.0.1:${port}`;
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
  addr: ${hostPort}
`);
  return {
    name: "docker-registry",
    hostPort,
    creds: () => [],
    headers: async () => ({}),
    blobFile: (d) => join(dir, "docker/registry/v2/blobs/sha256", d.slice(7, 9), d.slice(7), "data"),
    ...spawned("docker-registry", dir, hostPort, ["docker-registry", "serve", config], {}),
  };
}

// ---------- push and pull ----------

const SKOPEO_ENV = () => ({ REGISTRY_AUTH_FILE: join(root, "auth.json") }); // no stored logins of this machine

async function pushImage(r: Registry, img: Image) {
  await run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", ...r.creds("dest"), `oci:${img.dir}:v1`, `docker://${r.hostPort}/bench/app:v1`], SKOPEO_ENV());
}

async function pushPull(r: Registry, img: Image, label: string, times: Map<string, number[]>) {
  await r.fresh();
  const ms = await timed(() => pushImage(r, img));
  const out = join(root, `pulled-${r.name}`);
  rmSync(out, { recursive: true, force: true });
  const pull = await timed(() => run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ...r.creds("src"), `docker://${r.hostPort}/bench/app:v1`, `oci:${out}:v1`], SKOPEO_ENV()));
  const names = new Set(readdirSync(join(out, "blobs/sha256")));
  for (const l of img.layers) {
    if (!names.has(l.digest.slice(7)) || statSync(join(out, "blobs/sha256", l.digest.slice(7))).size !== l.size) throw new Error(`${r.name}: layer ${l.digest} missing or short after the pull`);
  }
  rmSync(out, { recursive: true, force: true });
  push(times, `${r.name} push`, ms);
  push(times, `${r.name} pull`, pull);
  console.error(`${label} ${r.name}: push ${secs(ms)} s, pull ${secs(pull)} s`);
}

// ---------- cold reads ----------

interface ColdCase {
  name: string;
  file: string;
  target: boolean;
  /** Untimed set-up (a registry token), then the timed GET. */
  prepare(): Promise<() => Promise<{ bytes: number; length: boolean }>>;
}

/**
 * Per case: GET times, raw times, and per pair raw / GET. Each file is read once untimed first: this
 * VM's disk sits on the host's cache, and the first read of a file written here comes from the
 * device itself, far slower than any later one (about 1 s against 0.1 s for 256 MiB).
 */
async function coldReads(cases: ColdCase[], bytes: number): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>();
  for (const c of cases) await run(["sh", "-c", 'cat "$1" > /dev/null', "sh", c.file]);
  for (let i = 0; i < COLD_RUNS; i++) {
    for (const c of i % 2 ? [...cases].reverse() : cases) { // a noisy moment on the shared disk hits every row alike
      const raw = async () => {
        await dropCache(c.file);
        return timed(() => run(["sh", "-c", 'cat "$1" > /dev/null', "sh", c.file]));
      };
      const get = async () => {
        const request = await c.prepare();
        await dropCache(c.file);
        let got = { bytes: 0, length: false };
        const ms = await timed(async () => void (got = await request()));
        if (got.bytes !== bytes) throw new Error(`${c.name}: ${got.bytes} bytes, not ${bytes}`);
        if (!got.length) throw new Error(`${c.name}: the answer had no Content-Length`);
        return ms;
      };
      // which of the pair goes first alternates too
      const [r, g] = i % 2 ? [await raw(), await get()] : await get().then(async (g) => [await raw(), g]);
      push(times, `raw: ${c.name}`, r!);
      push(times, c.name, g!);
      push(times, `ratio: ${c.name}`, r! / g!);
      console.error(`cold ${i + 1} ${c.name}: GET ${secs(g!)} s, raw ${secs(r!)} s, ${pct(r! / g!)}`);
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
  const stop = async () => { proc.kill(); await proc.exited; };
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok ?? false, 15_000, "cache service");
    const token = await mintRuntimeToken(SECRET, { repo: "bench/repo", scopes: [{ scope: "refs/heads/main", permission: 3 }], ttlSeconds: 3600 });
    const h = { authorization: `Bearer ${token}` };
    const ok = async (r: Response, what: string) => {
      if (!r.ok) throw new Error(`cache ${what}: ${r.status} ${await r.text()}`);
      return r;
    };
    const api = `${url}/_apis/artifactcache`;
    const { cacheId } = (await (await ok(await fetch(`${api}/caches`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: JSON.stringify({ key: "bench", version: "v", cacheSize: size }) }), "reserve")).json()) as { cacheId: number };
    await ok(await fetch(`${api}/caches/${cacheId}`, { method: "PATCH", headers: { ...h, "content-type": "application/octet-stream", "content-range": `bytes 0-${size - 1}/*` }, body: Bun.file(file) }), "patch");
    await ok(await fetch(`${api}/caches/${cacheId}`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: JSON.stringify({ size }) }), "commit");
    const hit = (await (await ok(await fetch(`${api}/cache?keys=bench&version=v`, { headers: h }), "lookup")).json()) as { archiveLocation: string };
    const id = Number(/\/e\/(\d+)/.exec(hit.archiveLocation)?.[1]);
    const stored = join(data, `objects/e/${id}/data`);
    if (statSync(stored, { throwIfNoEntry: false })?.size !== size) throw new Error(`cache: the entry is not at ${stored}`);
    return { file: stored, url: hit.archiveLocation, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A bare Bun.serve sending `file` with sendfile, alone or after WILLNEED (--profile). */
function servingPaths(file: string): { cases: ColdCase[]; warmGet(): Promise<number>; stop(): void } {
  const size = statSync(file).size;
  const server = Bun.serve({
    port: 0,
    async fetch(r) {
      const p = new URL(r.url).pathname;
      if (p === "/willneed") await warm(file, 0, size - 1);
      return new Response(Bun.file(file).slice(0, size));
    },
  });
  const get = (p: string) => async () => () => curlGet(`http://127.0.0.1:${server.port}${p}`);
  return {
    cases: [
      { name: "profile: bare Bun.serve, sendfile alone", file, target: false, prepare: get("/sendfile") },
      { name: "profile: bare Bun.serve, fadvise WILLNEED + sendfile", file, target: false, prepare: get("/willneed") },
    ],
    async warmGet() {
      await run(["sh", "-c", 'cat "$1" > /dev/null', "sh", file]);
      return timed(() => curlGet(`http://127.0.0.1:${server.port}/sendfile`));
    },
    stop: () => server.stop(true),
  };
}

// ---------- main ----------

mkdirSync(root, { recursive: true });
writeFileSync(join(root, "auth.json"), "{}");
const nats = await startNats();
const regs: Registry[] = [];
const cleanups: (() => unknown)[] = [];
try {
  const command = `bun scripts/bench/registry.ts ${process.argv.slice(2).join(" ")}`.trimEnd();
  const img = await makeImage(join(root, "image"));
  const nimbus = await nimbusRegistry(nats);
  const ref = await referenceRegistry();
  regs.push(nimbus, ref);

  const times = new Map<string, number[]>();
  for (let i = 0; i < RUNS; i++) for (const r of [nimbus, ref, ref, nimbus]) await pushPull(r, img, `run ${i + 1}`, times);

  // The cold reads: both registries hold the image (pushed once more into a fresh data dir).
  for (const r of [nimbus, ref]) {
    await r.fresh();
    await pushImage(r, img);
  }
  const big = img.big;
  let profile: ReturnType<typeof servingPaths> | undefined;
  const cases: ColdCase[] = [nimbus, ref].map((r) => ({
    name: `${r.name === "nimbus" ? "Nimbus registry" : "docker-registry (reference)"}: GET /v2/…/blobs/DIGEST`,
    file: r.blobFile(big.digest),
    target: r === nimbus,
    prepare: async () => {
      const h = await r.headers();
      return () => curlGet(`http://${r.hostPort}/v2/bench/app/blobs/${big.digest}`, h);
    },
  }));
  if (!SKIP_CACHE) {
    const cache = await cacheWith(nats, join(img.dir, "blobs/sha256", big.digest.slice(7)), big.size);
    cleanups.push(cache.stop);
    cases.push({ name: "Nimbus cache: GET archive (v1 download URL)", file: cache.file, target: true, prepare: async () => () => curlGet(cache.url) });
  }
  if (PROFILE) {
    const bare = join(root, "bare-layer");
    await run(["cp", join(img.dir, "blobs/sha256", big.digest.slice(7)), bare]);
    profile = servingPaths(bare);
    cleanups.push(profile.stop);
    cases.push(...profile.cases);
  }
  const cold = await coldReads(cases, big.size);
  const warmGets: number[] = [];
  if (profile) for (let i = 0; i < COLD_RUNS; i++) warmGets.push(await profile.warmGet());

  const spread = (xs: number[]) => `${secs(Math.min(...xs))}-${secs(Math.max(...xs))}`;
  printTable(
    `${command}\n\nskopeo push then pull, ${(img.bytes / MiB).toFixed(0)} MiB in ${img.layers.length} layers: median of ${RUNS * 2} each (ABBA), seconds`,
    (["push", "pull"] as const).map((op) => {
      const n = times.get(`nimbus ${op}`)!;
      const d = times.get(`docker-registry ${op}`)!;
      const ratio = median(n) / median(d);
      return { op, "Nimbus s": secs(median(n)), "Nimbus min-max": spread(n), "docker-registry s": secs(median(d)), "reference min-max": spread(d), "Nimbus / reference": ratio.toFixed(2), "target ≤ 1.00": ratio <= 1 ? "met" : "not met" };
    }),
  );
  printTable(
    `cold read of one ${(big.size / MiB).toFixed(0)} MiB blob: GET (curl) against a cold raw read of the same stored file (cat), median of ${COLD_RUNS} pairs`,
    cases.map((c) => {
      const g = median(cold.get(c.name)!);
      const ratios = cold.get(`ratio: ${c.name}`)!;
      const ratio = median(ratios);
      return {
        what: c.name, "GET s": secs(g), "raw s": secs(median(cold.get(`raw: ${c.name}`)!)), "GET MiB/s": Math.round(big.size / MiB / (g / 1000)),
        "GET / raw (min-max)": `${pct(ratio)} (${pct(Math.min(...ratios))}-${pct(Math.max(...ratios))})`,
        "target ≥ 70 %": c.target ? (ratio >= 0.7 ? "met" : "not met") : "-",
      };
    }),
  );
  if (warmGets.length) console.log(`\nprofile: a warm GET (file in the page cache) of the bare Bun.serve: median ${secs(median(warmGets))} s (${spread(warmGets)}), the transfer's own cost.`);
  console.log(`\npage cache: dropped per file with posix_fadvise(DONTNEED) after fsync (dd iflag=nocache count=0), disks idle first; checked with fincore. GET / raw: per pair, the raw read's time over the GET's; rows interleaved, order reversed every other run.`);
} finally {
  for (const c of cleanups) await c();
  for (const r of regs) await r.stop();
  await nats.stop();
  rmSync(root, { recursive: true, force: true });
}
