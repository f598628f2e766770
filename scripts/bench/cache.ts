/**
 * Cache throughput benchmark: `bun scripts/bench/cache.ts [--size-mib 1024]`.
 * A 1 GiB archive through the cache service (its own process, filesystem store) with each
 * protocol's client concurrency (v1: 32 MiB chunks, 4 in flight; v2: 64 MiB blocks, 8 in flight),
 * beside a raw sequential write (fsync'd, like the store) and read of the same size on the same
 * disk in the same run; then the unmodified @actions/cache saving and restoring a 1 GiB directory.
 * Temp data lives under the system temp dir and is removed at the end.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { randomFillSync } from "node:crypto";
import { join } from "node:path";
import { mintToken } from "../../src/auth/tokens.ts";
import { mintRuntimeToken } from "../../src/cache/tokens.ts";
import { freePort, waitFor } from "../../test/support/net.ts";
import { actionsEnv, runClient } from "../../test/cache/support/client.ts";

const MiB = 1024 * 1024;
const sizeArg = process.argv.indexOf("--size-mib");
const SIZE = (sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 1024) * MiB;
const SECRET = "bench-secret-0123456789abcdef0123456789";
const root = join(tmpdir(), `nimbus-cache-bench-${process.pid}`);
const rows: [string, number, number][] = [];

function row(name: string, bytes: number, ms: number) {
  rows.push([name, bytes, ms]);
  console.error(`${name}: ${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const out = await fn();
  return [out, performance.now() - t];
}

async function makeSource(path: string) {
  const fh = await open(path, "w");
  const buf = Buffer.alloc(8 * MiB);
  for (let off = 0; off < SIZE; off += buf.length) {
    randomFillSync(buf); // incompressible, so tar+zstd cannot shrink the client's archive
    await fh.write(buf, 0, Math.min(buf.length, SIZE - off), off);
  }
  await fh.close();
}

async function rawDisk(src: string) {
  const dest = join(root, "raw.bin");
  const [, w] = await timed(async () => {
    const out = await open(dest, "w");
    const buf = Buffer.alloc(8 * MiB);
    for (let off = 0; off < SIZE; off += buf.length) await out.write(buf, 0, Math.min(buf.length, SIZE - off), off);
    await out.sync();
    await out.close();
  });
  row("raw disk: sequential write + fsync", SIZE, w);
  const [, r] = await timed(async () => {
    let n = 0;
    const reader = Bun.file(src).stream().getReader();
    for (;;) {
      const x = await reader.read();
      if (x.done) break;
      n += x.value.byteLength;
    }
    return n;
  });
  row("raw disk: sequential read", SIZE, r);
  rmSync(dest);
}

async function startService(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const proc = Bun.spawn([process.execPath, "src/cache/main.ts"], {
    cwd: join(import.meta.dir, "../.."),
    env: { ...process.env, NIMBUS_CACHE_PORT: String(port), NIMBUS_CACHE_DB: join(root, "svc/index.sqlite"), NIMBUS_CACHE_DIR: join(root, "svc/data"), NIMBUS_AUTH_SECRET: SECRET, NIMBUS_LOG_LEVEL: "warn", NIMBUS_CACHE_REPO_QUOTA_BYTES: "0" },
    stdout: "ignore", stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok ?? false, 10_000, "cache service");
  return { url, stop: async () => { proc.kill(); await proc.exited; } };
}

/** Run `tasks` with at most `n` in flight. */
async function pool(n: number, tasks: (() => Promise<void>)[]) {
  const queue = [...tasks];
  await Promise.all(Array.from({ length: n }, async () => { for (let t = queue.shift(); t; t = queue.shift()) await t(); }));
}

async function ok(r: Response, what: string) {
  if (!r.ok) throw new Error(`${what}: ${r.status} ${await r.text()}`);
  return r;
}

async function drain(url: string): Promise<number> {
  const r = await ok(await fetch(url), "download");
  let n = 0;
  const reader = r.body!.getReader();
  for (;;) {
    const x = await reader.read();
    if (x.done) return n;
    n += x.value.byteLength;
  }
}

async function v1(url: string, token: string, src: string) {
  const h = { authorization: `Bearer ${token}` };
  const [, up] = await timed(async () => {
    const r = await ok(await fetch(`${url}/_apis/artifactcache/caches`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: JSON.stringify({ key: "bench-v1", version: "v", cacheSize: SIZE }) }), "reserve");
    const { cacheId } = (await r.json()) as { cacheId: number };
    const chunks = Array.from({ length: Math.ceil(SIZE / (32 * MiB)) }, (_, i) => async () => {
      const start = i * 32 * MiB;
      const end = Math.min(SIZE, start + 32 * MiB) - 1;
      await ok(await fetch(`${url}/_apis/artifactcache/caches/${cacheId}`, { method: "PATCH", headers: { ...h, "content-type": "application/octet-stream", "content-range": `bytes ${start}-${end}/*` }, body: Bun.file(src).slice(start, end + 1) }), "patch");
    });
    await pool(4, chunks);
    await ok(await fetch(`${url}/_apis/artifactcache/caches/${cacheId}`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: JSON.stringify({ size: SIZE }) }), "commit");
  });
  row("service v1: upload (32 MiB chunks, 4 in flight)", SIZE, up);
  const hit = (await (await ok(await fetch(`${url}/_apis/artifactcache/cache?keys=bench-v1&version=v`, { headers: h }), "lookup")).json()) as { archiveLocation: string };
  const [n, down] = await timed(() => drain(hit.archiveLocation));
  if (n !== SIZE) throw new Error(`v1 download returned ${n} bytes`);
  row("service v1: download (one GET)", SIZE, down);
}

async function v2(url: string, token: string, src: string) {
  const twirp = (m: string, body: unknown) => fetch(`${url}/twirp/github.actions.results.api.v1.CacheService/${m}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const [, up] = await timed(async () => {
    const { signed_upload_url: u } = (await (await ok(await twirp("CreateCacheEntry", { key: "bench-v2", version: "v" }), "create")).json()) as { signed_upload_url: string };
    const ids = Array.from({ length: Math.ceil(SIZE / (64 * MiB)) }, (_, i) => btoa(`nimbus-bench-${String(i).padStart(6, "0")}`));
    await pool(8, ids.map((id, i) => async () => {
      const body = Bun.file(src).slice(i * 64 * MiB, Math.min(SIZE, (i + 1) * 64 * MiB));
      await ok(await fetch(`${u}&comp=block&blockid=${encodeURIComponent(id)}`, { method: "PUT", body }), "put block");
    }));
    const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`;
    await ok(await fetch(`${u}&comp=blocklist`, { method: "PUT", body: xml }), "put block list");
    await ok(await twirp("FinalizeCacheEntryUpload", { key: "bench-v2", version: "v", size_bytes: String(SIZE) }), "finalize");
  });
  row("service v2: upload (64 MiB blocks, 8 in flight + block list)", SIZE, up);
  const { signed_download_url } = (await (await twirp("GetCacheEntryDownloadURL", { key: "bench-v2", version: "v" })).json()) as { signed_download_url: string };
  const [n, down] = await timed(() => drain(signed_download_url));
  if (n !== SIZE) throw new Error(`v2 download returned ${n} bytes`);
  row("service v2: download (one GET)", SIZE, down);
}

async function clientEndToEnd(url: string, token: string, src: string) {
  const ws = join(root, "ws");
  mkdirSync(join(ws, "dir"), { recursive: true });
  mkdirSync(join(root, "runner-temp"), { recursive: true });
  await Bun.write(join(ws, "dir/data.bin"), Bun.file(src));
  writeFileSync(join(ws, "dir/small.txt"), "small file\n");
  for (const protocol of ["v1", "v2"] as const) {
    const env = actionsEnv({ protocol, url, token, workspace: ws, temp: join(root, "runner-temp") });
    const save = await runClient(env, { op: "save", paths: ["dir"], key: `client-${protocol}` });
    if (typeof save.result !== "number" || save.result < 0) throw new Error(`client save failed:\n${save.log.slice(-2000)}`);
    row(`@actions/cache ${protocol}: saveCache of a ${SIZE / MiB} MiB directory (tar+zstd included)`, SIZE, save.ms);
    const restore = await runClient(env, { op: "restore", paths: ["dir"], key: `client-${protocol}` });
    if (restore.result !== `client-${protocol}`) throw new Error(`client restore failed:\n${restore.log.slice(-2000)}`);
    row(`@actions/cache ${protocol}: restoreCache of a ${SIZE / MiB} MiB directory`, SIZE, restore.ms);
  }
}

function printTable() {
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n${"what".padEnd(w)}  ${"MiB".padStart(6)}  ${"seconds".padStart(8)}  ${"MiB/s".padStart(7)}`);
  for (const [name, bytes, ms] of rows)
    console.log(`${name.padEnd(w)}  ${String(bytes / MiB).padStart(6)}  ${(ms / 1000).toFixed(2).padStart(8)}  ${(bytes / MiB / (ms / 1000)).toFixed(0).padStart(7)}`);
}

mkdirSync(root, { recursive: true });
const svc = await startService().catch((e) => { rmSync(root, { recursive: true, force: true }); throw e; });
try {
  const src = join(root, "archive.bin");
  await makeSource(src);
  await rawDisk(src);
  const token = await mintRuntimeToken(SECRET, { repo: "bench/repo", scopes: [{ scope: "refs/heads/main", permission: 3 }], ttlSeconds: 3600 });
  await v1(svc.url, token, src);
  await v2(svc.url, token, src);
  const admin = await mintToken(SECRET, "admin", "admin", 600);
  await fetch(`${svc.url}/v1/cache/entries?repo=bench/repo`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
  await clientEndToEnd(svc.url, token, src);
  printTable();
} finally {
  await svc.stop();
  rmSync(root, { recursive: true, force: true });
}
