/**
 * The registry with its blobs in S3 (a real S3-compatible server, s3rver): skopeo pushes and pulls
 * through it, byte for byte; the bytes are in the bucket under the prefix, once across orgs, while
 * access stays per org; nothing is left on local disk but metadata. With the bucket gone, requests
 * that need it are refused with 503 UNAVAILABLE at once and nothing half-written remains.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { s3Client } from "../../src/blobs/backend/s3.ts";
import { startS3, type S3Server } from "../cache/support/s3.ts";
import { blobOf, makeLayout, type Layout } from "./support/layout.ts";
import { FS_STORAGE, seeded, sha256, startTestRegistry, type TestRegistry } from "./support/service.ts";

let s3: S3Server;
let reg: TestRegistry;
let layout: Layout;
let acme: string;
let globex: string;
const work = mkdtempSync(join(tmpdir(), "nimbus-reg-s3-"));

async function run(argv: string[]): Promise<{ code: number; err: string }> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, REGISTRY_AUTH_FILE: join(work, "auth.json") } });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  return { code, err };
}
async function ok(argv: string[]): Promise<void> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 2).join(" ")} failed (${r.code}): ${r.err}`);
}
async function keys(): Promise<string[]> {
  const c = s3Client({ bucket: s3.bucket, prefix: "", endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  try {
    const r = await c.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    return (r.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    c.destroy();
  }
}
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  s3 = await startS3("nimbus-registry");
  reg = await startTestRegistry({
    storage: {
      ...FS_STORAGE, storage: "s3", s3Bucket: s3.bucket, s3Prefix: "reg/", s3Endpoint: s3.endpoint,
      s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, breakerFailures: 2, breakerCooldownMs: 500,
    },
  });
  acme = await reg.token("org-admin", "acme");
  globex = await reg.token("org-admin", "globex");
  layout = makeLayout("s3", [6 * 1024 * 1024, 200_000, 3_000]); // one layer over an S3 multipart part
  writeFileSync(join(work, "auth.json"), "{}");
});
afterAll(async () => {
  await reg?.cleanup();
  await s3?.cleanup();
  rmSync(layout.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("registry on S3", () => {
  test("skopeo copies an image in and back out byte for byte; the blobs are objects under the prefix", async () => {
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", acme, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/acme/app:v1`]);
    const out = join(work, "pulled");
    await ok(["skopeo", "copy", "--src-tls-verify=false", "--src-registry-token", acme, `docker://${reg.hostPort}/acme/app:v1`, `oci:${out}:v1`]);
    for (const d of layout.layers) expect(Buffer.compare(blobOf(out, d), blobOf(layout.dir, d))).toBe(0);
    const stored = await keys();
    for (const d of [...layout.layers, layout.manifestDigest]) expect(stored).toContain(`reg/sha256/${d.slice(7, 9)}/${d.slice(7)}`);
    expect(stored.every((k) => k.startsWith("reg/sha256/"))).toBe(true);
    // Locally: metadata and an empty staging folder, no blob bytes.
    expect(readdirSync(join(reg.dir, "blobs", "tmp"))).toEqual([]);
    expect(existsSync(join(reg.dir, "blobs", "sha256"))).toBe(false);
  }, 120_000);

  test("the same image pushed by another org is stored once; each org reads only its own repositories", async () => {
    const before = await keys();
    await ok(["skopeo", "copy", "--dest-tls-verify=false", "--dest-registry-token", globex, `oci:${layout.dir}:v1`, `docker://${reg.hostPort}/globex/app:v1`]);
    expect(await keys()).toEqual(before);
    const layer = layout.layers[0]!;
    const own = await fetch(`${reg.url}/v2/globex/app/blobs/${layer}`, { headers: auth(globex) });
    expect(own.status).toBe(200);
    // From S3 the body is a stream, which Bun.serve sends chunked (no Content-Length: oven-sh/bun#10507).
    expect(Buffer.compare(Buffer.from(await own.arrayBuffer()), blobOf(layout.dir, layer))).toBe(0);
    const ranged = await fetch(`${reg.url}/v2/globex/app/blobs/${layer}`, { headers: { ...auth(globex), range: "bytes=100-199" } });
    expect(ranged.status).toBe(206);
    expect(Buffer.compare(Buffer.from(await ranged.arrayBuffer()), blobOf(layout.dir, layer).subarray(100, 200))).toBe(0);
    const cross = await fetch(`${reg.url}/v2/globex/app/blobs/${layer}`, { headers: auth(acme) });
    expect(cross.status).not.toBe(200);
    expect((await cross.json()).errors[0].code).toBe("NAME_UNKNOWN"); // refused, not served: no link in acme's namespace
  }, 120_000);

  test("a monolithic upload with a forged digest stores nothing, in the bucket or on disk", async () => {
    const before = await keys();
    const body = seeded("forged", 10_000);
    const r = await fetch(`${reg.url}/v2/acme/app/blobs/uploads/?digest=${sha256("something else")}`, { method: "POST", headers: auth(acme), body: new Blob([body as Uint8Array<ArrayBuffer>]) });
    expect(r.status).toBe(400);
    expect((await r.json()).errors[0].code).toBe("DIGEST_INVALID");
    expect(await keys()).toEqual(before);
    expect(readdirSync(join(reg.dir, "blobs", "tmp"))).toEqual([]);
  });

  test("with S3 down, a pull and a push get 503 UNAVAILABLE naming the registry's storage; nothing half-written; back when S3 is", async () => {
    await s3.stop();
    try {
      const layer = layout.layers[1]!;
      const pull = await fetch(`${reg.url}/v2/acme/app/blobs/${layer}`, { headers: auth(acme) });
      expect(pull.status).toBe(503);
      const e = (await pull.json()).errors[0];
      expect(e.code).toBe("UNAVAILABLE");
      expect(e.message).toBe("registry storage is unavailable");
      expect(JSON.stringify(e)).not.toContain(s3.secretAccessKey);
      const body = seeded("while-down", 5000);
      const push = await fetch(`${reg.url}/v2/acme/app/blobs/uploads/?digest=${sha256(body)}`, { method: "POST", headers: auth(acme), body: new Blob([body as Uint8Array<ArrayBuffer>]) });
      expect(push.status).toBe(503);
      expect(readdirSync(join(reg.dir, "blobs", "tmp"))).toEqual([]);
    } finally {
      await s3.start();
    }
    await Bun.sleep(1200); // the breaker's probe closes it again
    const back = await fetch(`${reg.url}/v2/acme/app/blobs/${layout.layers[2]!}`, { headers: auth(acme) });
    expect(back.status).toBe(200);
    expect(Buffer.compare(Buffer.from(await back.arrayBuffer()), blobOf(layout.dir, layout.layers[2]!))).toBe(0);
  }, 60_000);
});
