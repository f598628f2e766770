/**
 * A revocation reaches every replica of every service: two control-plane replicas, the log service
 * and the cache service against one real nats-server. A token works on all four, is revoked through
 * one replica, and is refused by all four within 5 s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { startControlPlane, type RunningControlPlane } from "../../src/control/server.ts";
import { logSettings } from "../../src/logs/config.ts";
import { startLogService } from "../../src/logs/server.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";
import { startTestCache, SECRET, type TestCache } from "../cache/support/service.ts";

let nats: NatsServer;
let a: RunningControlPlane;
let b: RunningControlPlane;
let logs: { url: string; stop(): Promise<void> };
let cache: TestCache;
let dir: string;

const control = async () =>
  startControlPlane(
    loadConfig(controlSettings, {
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_AUTH_SECRET: SECRET,
      NIMBUS_SECRETS_KEY: Buffer.alloc(32, 7).toString("base64url"),
      NIMBUS_CONTROL_PORT: String(await freePort()),
    }),
  );

beforeAll(async () => {
  nats = await startNats();
  dir = mkdtempSync(join(tmpdir(), "nimbus-revoke-"));
  [a, b] = [await control(), await control()];
  logs = await startLogService(loadConfig(logSettings, { NIMBUS_NATS_URL: nats.url, NIMBUS_AUTH_SECRET: SECRET, NIMBUS_LOGS_PORT: String(await freePort()), NIMBUS_LOGS_DB: join(dir, "logs.sqlite") }));
  cache = await startTestCache({ env: { NIMBUS_NATS_URL: nats.url } });
}, 30_000);

afterAll(async () => {
  await cache?.cleanup();
  await logs?.stop();
  await b?.stop();
  await a?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const get = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

test("a token revoked through one replica is refused by both replicas, the log service and the cache within 5 s", async () => {
  const root = (await bootstrapToken(a.ctx.tokens, { sub: "root", role: "operator", ttlSeconds: 3600 })).token;
  // Minted through replica B: replica A, the log service and the cache learn of it from the ledger.
  const minted = await fetch(`${b.url}/api/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${root}`, "content-type": "application/json" },
    body: JSON.stringify({ role: "operator", name: "ops-bot", ttl: "10m" }),
  });
  expect(minted.status).toBe(201);
  const { token, entry } = (await minted.json()) as { token: string; entry: { id: string } };
  const endpoints = [`${a.url}/api/tokens`, `${b.url}/api/tokens`, `${logs.url}/v1/jobs/j-none/logs`, `${cache.url}/v1/cache/usage`];
  // Accepted everywhere (the log service answers 404 for a job that does not exist: past the token check).
  const accepted: Record<string, number> = { [endpoints[2]!]: 404 };
  for (const url of endpoints) expect({ url, status: (await get(url, token)).status }).toEqual({ url, status: accepted[url] ?? 200 });

  const revoked = await fetch(`${a.url}/api/tokens/${entry.id}/revoke`, { method: "POST", headers: { authorization: `Bearer ${root}` } });
  expect(revoked.status).toBe(200);
  expect(((await revoked.json()) as any).token.revoked.by.sub).toBe("root");

  const deadline = Date.now() + 5000;
  const refused = new Set<string>();
  while (refused.size < endpoints.length && Date.now() < deadline) {
    for (const url of endpoints) {
      if (refused.has(url)) continue;
      const r = await get(url, token);
      if (r.status === 401) {
        expect(r.body.message).toBe("token was revoked");
        refused.add(url);
      }
    }
    if (refused.size < endpoints.length) await Bun.sleep(20);
  }
  expect(endpoints.filter((u) => !refused.has(u))).toEqual([]);
  // The token that revoked it still works everywhere.
  for (const url of endpoints) expect((await get(url, root)).status).toBe(accepted[url] ?? 200);
}, 30_000);

test("a token that is signed but not in the ledger is refused by every service", async () => {
  const { mintToken } = await import("../../src/auth/tokens.ts");
  const stray = (await mintToken(SECRET, { sub: "stray", role: "operator", ttlSeconds: 600 })).token;
  for (const url of [`${a.url}/api/tokens`, `${logs.url}/v1/jobs/j-none/logs`, `${cache.url}/v1/cache/usage`]) {
    const r = await get(url, stray);
    expect({ url, status: r.status, message: r.body.message }).toEqual({ url, status: 401, message: "token is not in the ledger" });
  }
});
