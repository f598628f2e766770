/**
 * The registry's Prometheus metrics on the real service: bytes in and out, requests by route class
 * and status, uploads in progress and the blob store's size (kept as blobs come and go, seeded by a
 * walk at start), checked in the text format by `promtool check metrics` and scraped by a real
 * Prometheus with a bearer token (the registry is bound off loopback, so /metrics needs metrics:read).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRegistryService } from "../../src/registry/server.ts";
import { freePort, waitFor } from "../support/net.ts";
import { client, imageManifest } from "./support/http.ts";
import { registryConfig, SECRET, seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let url: string;
let operator: string;
const config = new TextEncoder().encode('{"os":"linux","metrics":1}');
const layer = seeded("metrics-layer", 70_000);
const OWN = ["nimbus_registry_bytes_in_total", "nimbus_registry_bytes_out_total", "nimbus_registry_requests_total", "nimbus_registry_uploads_in_progress", "nimbus_registry_store_bytes", "nimbus_registry_store_blobs"];

/** Samples of the text format: `name{labels} value` → value, keyed by `name{labels}` as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function scrape(base = url): Promise<Map<string, number>> {
  const r = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${operator}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain");
  return samples(await r.text());
}

function storeOnDisk(dir: string): { bytes: number; blobs: number } {
  let bytes = 0;
  let blobs = 0;
  const top = join(dir, "blobs", "sha256");
  for (const p of readdirSync(top)) for (const f of readdirSync(join(top, p))) (bytes += statSync(join(top, p, f)).size), blobs++;
  return { bytes, blobs };
}

beforeAll(async () => {
  reg = await startTestRegistry({ host: "0.0.0.0" });
  url = reg.url.replace("0.0.0.0", "127.0.0.1");
  operator = await reg.token("operator");
});
afterAll(() => reg?.cleanup());

describe("what is counted", () => {
  test("pushes count bytes in and grow the store; pulls count bytes out; requests by route class and status", async () => {
    const c = client(url, await reg.token("org-admin", "acme"));
    // A chunked upload of the layer (two PATCHes), then the config and the manifest.
    const post = await c.call("POST", "/v2/acme/app/blobs/uploads/");
    const loc = post.headers.get("location")!;
    expect((await c.call("PATCH", loc, { body: layer.subarray(0, 40_000), headers: { "content-type": "application/octet-stream", "content-range": "0-39999" } })).status).toBe(202);
    expect((await c.call("PATCH", loc, { body: layer.subarray(40_000), headers: { "content-type": "application/octet-stream", "content-range": "40000-69999" } })).status).toBe(202);
    expect((await c.call("PUT", `${loc}?digest=${sha256(layer)}`)).status).toBe(201);
    await c.pushBlob("acme/app", config);
    const manifest = JSON.stringify(imageManifest(config, [layer]));
    expect((await c.putManifest("acme/app", "v1", manifest)).status).toBe(201);
    expect((await c.call("GET", `/v2/acme/app/blobs/${sha256(layer)}`)).bytes.length).toBe(layer.length);
    expect((await c.call("GET", "/v2/acme/app/manifests/v1")).status).toBe(200);
    expect((await c.call("HEAD", "/v2/acme/app/manifests/v1")).status).toBe(200);
    expect((await c.call("GET", "/v2/acme/app/manifests/nope")).status).toBe(404);
    expect((await c.call("GET", "/v2/acme/app/blobs/uploads/x/y/z")).status).toBeGreaterThanOrEqual(400);

    const m = await scrape();
    expect(m.get("nimbus_registry_bytes_in_total")).toBe(layer.length + config.length + manifest.length);
    expect(m.get('nimbus_registry_bytes_out_total{kind="blob"}')).toBe(layer.length);
    expect(m.get('nimbus_registry_bytes_out_total{kind="manifest"}')).toBe(manifest.length); // the HEAD sent no bytes
    expect(m.get('nimbus_registry_requests_total{route="upload",method="PATCH",status="202"}')).toBe(2);
    expect(m.get('nimbus_registry_requests_total{route="manifest",method="PUT",status="201"}')).toBe(1);
    expect(m.get('nimbus_registry_requests_total{route="manifest",method="GET",status="404"}')).toBe(1);
    expect(m.get('nimbus_registry_requests_total{route="blob",method="GET",status="200"}')).toBe(1);
    const disk = storeOnDisk(reg.dir);
    expect(disk.blobs).toBe(3);
    expect(m.get("nimbus_registry_store_bytes")).toBe(disk.bytes);
    expect(m.get("nimbus_registry_store_blobs")).toBe(disk.blobs);
    // The same bytes again are stored once: the store does not grow.
    await c.pushBlob("acme/other", layer);
    expect((await scrape()).get("nimbus_registry_store_bytes")).toBe(disk.bytes);
  });

  test("uploads in progress: an open session counts until it is finished or cancelled", async () => {
    const c = client(url, await reg.token("member", "acme"));
    const before = (await scrape()).get("nimbus_registry_uploads_in_progress")!;
    const a = (await c.call("POST", "/v2/acme/app/blobs/uploads/")).headers.get("location")!;
    const b = (await c.call("POST", "/v2/acme/app/blobs/uploads/")).headers.get("location")!;
    expect((await scrape()).get("nimbus_registry_uploads_in_progress")).toBe(before + 2);
    expect((await c.call("DELETE", a)).status).toBe(204);
    expect((await c.call("DELETE", a)).status).toBe(404); // a second cancel moves nothing
    expect((await scrape()).get("nimbus_registry_uploads_in_progress")).toBe(before + 1);
    const bytes = seeded("metrics-upload", 10);
    expect((await c.call("PUT", `${b}?digest=${sha256(bytes)}`, { body: bytes, headers: { "content-type": "application/octet-stream" } })).status).toBe(201);
    expect((await scrape()).get("nimbus_registry_uploads_in_progress")).toBe(before);
  });

  test("a restarted registry seeds the store's size from one walk of the store", async () => {
    const second = await startRegistryService(registryConfig({ host: "127.0.0.1", dir: reg.dir, metrics: true, authSecret: SECRET, natsUrl: reg.nats.url }));
    try {
      const disk = storeOnDisk(reg.dir);
      const m = await scrape(second.url);
      expect(m.get("nimbus_registry_store_bytes")).toBe(disk.bytes);
      expect(m.get("nimbus_registry_store_blobs")).toBe(disk.blobs);
      // Beside the process defaults (nimbus_registry_process_…, …_nodejs_…), the registry's own families.
      expect(m.get("nimbus_registry_bytes_in_total")).toBe(0);
      expect(m.get("nimbus_registry_uploads_in_progress")).toBe(0);
      expect(m.has("nimbus_registry_process_cpu_user_seconds_total")).toBe(true);
      // Removing a blob's bytes (what GC does) shrinks the gauges.
      const digest = sha256(config) as `sha256:${string}`;
      const size = (await second.deps.blobs.stat(digest))!.size;
      await second.deps.blobs.delete(digest);
      const after = await scrape(second.url);
      expect(after.get("nimbus_registry_store_bytes")).toBe(disk.bytes - size);
      expect(after.get("nimbus_registry_store_blobs")).toBe(disk.blobs - 1);
      await second.recountStore();
      expect((await scrape(second.url)).get("nimbus_registry_store_bytes")).toBe(disk.bytes - size);
    } finally {
      await second.stop();
    }
  });
});

describe("the text format and who may scrape", () => {
  test("NIMBUS_METRICS=false: no /metrics at all", async () => {
    const off = await startRegistryService(registryConfig({ host: "127.0.0.1", dir: reg.dir, metrics: false, authSecret: SECRET, natsUrl: reg.nats.url }));
    try {
      expect((await fetch(`${off.url}/metrics`, { headers: { authorization: `Bearer ${operator}` } })).status).toBe(404);
    } finally {
      await off.stop();
    }
  });

  test("bound off loopback: no token 401, a member 403, an operator 200", async () => {
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const member = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${await reg.token("member", "acme")}` } });
    expect(member.status).toBe(403);
    expect(((await member.json()) as { code: string }).code).toBe("forbidden");
  });

  test("promtool checks the registry's own families", async () => {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${operator}` } })).text();
    // prom-client's process defaults fail promtool's lint (environment notes): check ours.
    const own = text.split("\n").filter((l) => OWN.some((f) => l.includes(` ${f} `) || l.startsWith(f))).join("\n") + "\n";
    expect(own).toContain("# TYPE nimbus_registry_requests_total counter");
    const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(own), stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect({ code, out, err }).toEqual({ code: 0, out: "", err: "" });
  });

  test("a real Prometheus scrapes it with a bearer token and sees the counters", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nimbus-prometheus-"));
    const port = await freePort();
    writeFileSync(join(dir, "token"), operator, { mode: 0o600 });
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: registry\n    authorization: { type: Bearer, credentials_file: ${join(dir, "token")} }\n    static_configs: [{ targets: ["${url.replace("http://", "")}"] }]\n`,
    );
    const prom = Bun.spawn(["prometheus", `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdout: "ignore", stderr: "ignore" });
    try {
      const query = async (q: string) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => null);
        const body = r?.ok ? ((await r.json()) as { data: { result: { value: [number, string] }[] } }) : null;
        return body?.data.result[0] ? Number(body.data.result[0].value[1]) : null;
      };
      await waitFor(async () => (await query('up{job="registry"}')) === 1, 30_000, "Prometheus to scrape the registry");
      const ours = (await scrape()).get("nimbus_registry_bytes_in_total");
      await waitFor(async () => (await query("nimbus_registry_bytes_in_total")) === ours, 10_000, "the scraped bytes in");
      expect(await query('sum(nimbus_registry_requests_total{route="upload"})')).toBeGreaterThan(0);
    } finally {
      prom.kill();
      await prom.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("garbage collection's figures", () => {
  test("a collection counts its run and removals, and the store's gauges match the disk after it", async () => {
    const before = await scrape();
    const r = await fetch(`${url}/admin/gc`, { method: "POST", headers: { authorization: `Bearer ${operator}`, "content-type": "application/json" }, body: '{"dryRun":false}' });
    expect(r.status).toBe(200);
    const report = (await r.json()) as { dryRun: boolean; blobsSwept: number };
    expect(report.dryRun).toBe(false);
    await waitFor(async () => ((await scrape()).get('nimbus_registry_gc_runs_total{kind="run"}') ?? 0) > (before.get('nimbus_registry_gc_runs_total{kind="run"}') ?? 0), 5000, "the run counted");
    const after = await scrape();
    expect((after.get('nimbus_registry_gc_removed_total{what="blobs"}') ?? -1) - (before.get('nimbus_registry_gc_removed_total{what="blobs"}') ?? 0)).toBe(report.blobsSwept);
    expect(after.get("nimbus_registry_gc_duration_seconds_count")).toBeGreaterThan(0);
    const disk = storeOnDisk(reg.dir);
    await waitFor(async () => (await scrape()).get("nimbus_registry_store_bytes") === disk.bytes, 5000, "the store's gauge recounted");
    expect((await scrape()).get("nimbus_registry_store_blobs")).toBe(disk.blobs);
  });
});
