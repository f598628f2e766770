/**
 * POST /admin/gc and `nimbus registry gc` on the real service: operators only (missing, forged,
 * revoked and registry-issued tokens 401; org, member and agent tokens 403); malformed, oversized
 * and unknown input refused with a message naming the problem; a refused request removes nothing;
 * the CLI prints the figures and its failures; the collector also runs by itself every interval.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { SignJWT } from "jose";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { waitFor } from "../support/net.ts";
import { recordedToken } from "../support/tokens.ts";
import { client } from "./support/http.ts";
import { SECRET, seeded, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let operator: string;
let garbage: string;
const stored = (digest: string) => existsSync(join(reg.dir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7)));
const BIN = resolve(import.meta.dir, "../../bin/nimbus");

function post(token: string | null, init: { body?: string; query?: string; headers?: Record<string, string> } = {}) {
  return fetch(`${reg.url}/admin/gc${init.query ?? ""}`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json", ...init.headers },
    body: init.body,
  });
}

beforeAll(async () => {
  reg = await startTestRegistry({ config: { gcGraceSeconds: 1, gcUntaggedSeconds: 0, uploadIdleSeconds: 1, gcIntervalSeconds: 3600 } });
  operator = await reg.token("operator");
  garbage = await client(reg.url, await reg.token("org-admin", "acme")).pushBlob("acme/junk", seeded("junk", 3000));
  await Bun.sleep(1200); // past the grace window: the next successful run removes it
});
afterAll(() => reg.cleanup());

describe("who may run it", () => {
  test("no token, a malformed one, a forged one, a revoked one, a registry token: 401, nothing removed", async () => {
    const forged = await new SignJWT({ role: "operator", ver: 1 })
      .setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus").setJti("forged").setSubject("x").setExpirationTime("1h")
      .sign(new TextEncoder().encode("not-the-secret-0123456789abcdefghij"));
    const revokedToken = await recordedToken(reg.natsUrl, SECRET, { sub: "to-revoke", role: "operator", ttlSeconds: 3600 });
    expect((await post(revokedToken, { query: "?dryRun=true" })).status).toBe(200); // good until revoked
    const nc = await connectNats({ url: reg.natsUrl, name: "test-revoke" });
    const id = JSON.parse(Buffer.from(revokedToken.split(".")[1]!, "base64url").toString()).jti;
    await new TokenLedger(await ensureTokenLedger(nc)).revoke(id, { sub: "test", role: "operator" } as never);
    await nc.close();
    const registryToken = (await (await fetch(`${reg.url}/v2/token?service=nimbus-registry&scope=repository:acme/junk:pull`, {
      headers: { authorization: `Basic ${btoa(`ci:${operator}`)}` },
    })).json()).token as string;
    for (const [name, token] of [["none", null], ["malformed", "not-a-jwt"], ["forged", forged], ["registry token", registryToken]] as const) {
      const r = await post(token);
      expect({ name, status: r.status }).toEqual({ name, status: 401 });
      expect((await r.json()).code).toBe("unauthorized");
    }
    await waitFor(async () => (await post(revokedToken)).status === 401, 5000, "the revocation to reach the registry");
    expect(stored(garbage)).toBe(true);
  });

  test("an org's token (admin, member) or an agent's: 403 naming the role, nothing removed", async () => {
    for (const [role, org] of [["org-admin", "acme"], ["member", "acme"], ["viewer", "acme"], ["agent", null]] as const) {
      const r = await post(await reg.token(role, org));
      expect({ role, status: r.status }).toEqual({ role, status: 403 });
      const body = await r.json();
      expect(body.code).toBe("forbidden");
      expect(body.message).toContain(role);
    }
    expect(stored(garbage)).toBe(true);
  });
});

describe("bad input", () => {
  test("malformed JSON, another field, a non-boolean, an unknown parameter, an oversized body: named, nothing removed", async () => {
    const cases: [string, { body?: string; query?: string }, number, string, string][] = [
      ["malformed", { body: "{dryRun:" }, 400, "invalid_json", "not valid JSON"],
      ["array", { body: "[true]" }, 422, "validation_failed", "JSON object"],
      ["unknown field", { body: '{"dryRun":false,"everything":true}' }, 422, "validation_failed", "everything: not a field"],
      ["non-boolean", { body: '{"dryRun":"yes"}' }, 422, "validation_failed", "dryRun: must be true or false"],
      ["unknown parameter", { query: "?force=1" }, 422, "validation_failed", "force: not a parameter"],
      ["bad query value", { query: "?dryRun=maybe" }, 422, "validation_failed", "dryRun"],
      ["oversized", { body: JSON.stringify({ dryRun: false, pad: "x".repeat(4096) }) }, 413, "payload_too_large", "1024"],
    ];
    for (const [name, init, status, code, text] of cases) {
      const r = await post(operator, init);
      const body = await r.json();
      expect({ name, status: r.status, code: body.code }).toEqual({ name, status, code });
      expect(body.message).toContain(text);
    }
    expect(stored(garbage)).toBe(true);
  });
});

describe("an operator", () => {
  test("a dry run removes nothing; a run removes the garbage and answers its figures; a replay finds nothing more", async () => {
    const dry = await post(operator, { query: "?dryRun=true" });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toMatchObject({ dryRun: true, blobsSwept: 1, bytesSwept: 3000 });
    expect(stored(garbage)).toBe(true);
    const r = await post(operator, { body: "" });
    expect(r.status).toBe(200);
    const report = await r.json();
    expect(report).toMatchObject({ dryRun: false, blobsSwept: 1, bytesSwept: 3000, blobLinksRemoved: 1, uploadsRemoved: 0 });
    for (const k of ["startedAt", "durationMs", "repositories", "marked", "manifestsRemoved", "evictedLinks", "evictedBytes"]) expect(report).toHaveProperty(k);
    expect(stored(garbage)).toBe(false);
    expect(await (await post(operator)).json()).toMatchObject({ blobsSwept: 0, blobLinksRemoved: 0 });
  });
});

describe("nimbus registry gc", () => {
  const nimbus = async (env: Record<string, string>, ...args: string[]) => {
    const p = Bun.spawn([BIN, "registry", "gc", ...args], { env: { ...process.env, NIMBUS_DATA_DIR: "/nonexistent-nimbus", ...env }, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { out, err, code };
  };

  test("prints the figures (or JSON), with --dry-run removing nothing", async () => {
    const digest = await client(reg.url, await reg.token("org-admin", "acme")).pushBlob("acme/cli", seeded("cli", 2048));
    await Bun.sleep(1200);
    const dry = await nimbus({ NIMBUS_REGISTRY_URL: reg.url, NIMBUS_TOKEN: operator }, "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("dry run:");
    expect(dry.out).toContain("would remove 1 blobs (2.0 KiB)");
    expect(stored(digest)).toBe(true);
    const r = await nimbus({ NIMBUS_REGISTRY_URL: reg.url, NIMBUS_TOKEN: operator }, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ dryRun: false, blobsSwept: 1, bytesSwept: 2048 });
    expect(stored(digest)).toBe(false);
  });

  test("an org token, no registry, an unreachable one: exit 1 with the reason", async () => {
    const org = await nimbus({ NIMBUS_REGISTRY_URL: reg.url, NIMBUS_TOKEN: await reg.token("org-admin", "acme") });
    expect(org.code).toBe(1);
    expect(org.err).toContain("a org-admin token is not accepted here");
    const none = await nimbus({ NIMBUS_TOKEN: operator });
    expect(none.code).toBe(1);
    expect(none.err).toContain("set NIMBUS_REGISTRY_URL");
    const down = await nimbus({ NIMBUS_REGISTRY_URL: "http://127.0.0.1:1", NIMBUS_TOKEN: operator });
    expect(down.code).toBe(1);
    expect(down.err).toContain("cannot reach the registry at http://127.0.0.1:1");
    expect(`${org.err}${none.err}${down.err}`).not.toContain(operator); // the token is never echoed
  });
});

test("the collector runs by itself every NIMBUS_REGISTRY_GC_INTERVAL_SECONDS", async () => {
  const periodic = await startTestRegistry({ config: { gcGraceSeconds: 1, gcIntervalSeconds: 1 } });
  try {
    const digest = await client(periodic.url, await periodic.token("org-admin", "acme")).pushBlob("acme/periodic", seeded("periodic", 1000));
    const path = join(periodic.dir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7));
    expect(existsSync(path)).toBe(true);
    await waitFor(() => !existsSync(path), 10_000, "a periodic run to sweep the blob");
    expect(periodic.running.gc.last?.blobsSwept).toBeGreaterThanOrEqual(1);
  } finally {
    await periodic.cleanup();
  }
});
