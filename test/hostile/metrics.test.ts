/**
 * Issue #11 part 4, defect 4: /metrics of the control plane and the cache needs a metrics:read token
 * unless the service is bound to loopback, and no request can grow the series (a forged
 * X-GitHub-Event storm lands in one "other" series).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { Webhooks } from "@octokit/webhooks";
import { startNats, type NatsServer } from "../support/nats.ts";
import type { RunningControlPlane } from "../../src/control/server.ts";
import { testControlPlane } from "../support/control.ts";
import { mintToken } from "../../src/auth/tokens.ts";
import { recordedToken } from "../support/tokens.ts";
import { isLoopbackBind } from "../../src/http/metrics-access.ts";
import { startTestCache, type TestCache } from "../cache/support/service.ts";

const SECRET = "webhook-secret-for-tests-0123456789";
const AUTH = "a".repeat(40);
const webhooks = new Webhooks({ secret: SECRET });
let nats: NatsServer;
let open: RunningControlPlane; // bound to 127.0.0.1
let wide: RunningControlPlane; // bound to 0.0.0.0
let wideUrl: string;
let openCache: TestCache;
let wideCache: TestCache;

async function control(host: string) {
  return testControlPlane({ natsUrl: nats.url, authSecret: AUTH, webhookSecret: SECRET, env: { NIMBUS_CONTROL_HOST: host } });
}

beforeAll(async () => {
  nats = await startNats();
  open = await control("127.0.0.1");
  wide = await control("0.0.0.0");
  wideUrl = wide.url.replace("0.0.0.0", "127.0.0.1");
  openCache = await startTestCache();
  wideCache = await startTestCache({ env: { NIMBUS_CACHE_HOST: "0.0.0.0" } });
}, 30_000);
afterAll(async () => {
  await open?.stop();
  await wide?.stop();
  await openCache?.cleanup();
  await wideCache?.cleanup();
  await nats?.stop();
});

/** A control-plane token recorded in the ledger (an unrecorded one is refused as such: 401). */
const token = (role: "operator" | "member" | "agent") =>
  recordedToken(nats.url, AUTH, { sub: `t-${role}`, role, org: role === "member" ? "acme" : undefined, ttlSeconds: 600 });
const scrape = (url: string, bearer?: string) => fetch(`${url}/metrics`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });

describe("who may scrape /metrics", () => {
  test("the loopback rule is about the bind address: 127.0.0.0/8, ::1 and localhost are loopback; wildcards and others are not", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) expect(isLoopbackBind(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "", "10.0.0.5", "192.168.1.1", "127.0.0.1.example.com", "localhost.example.com"]) expect(isLoopbackBind(h)).toBe(false);
  });

  test("bound to loopback: open", async () => {
    expect((await scrape(open.url)).status).toBe(200);
    expect((await scrape(openCache.url)).status).toBe(200);
  });

  test("control plane bound off loopback: 401 without a token or with a bad one, 403 for a role without metrics:read, 200 for an operator", async () => {
    expect((await scrape(wideUrl)).status).toBe(401);
    expect((await scrape(wideUrl, "garbage")).status).toBe(401);
    expect((await scrape(wideUrl, (await mintToken("b".repeat(40), { sub: "t-forged", role: "operator", ttlSeconds: 600 })).token)).status).toBe(401);
    expect((await scrape(wideUrl, await token("member"))).status).toBe(403);
    expect((await scrape(wideUrl, await token("agent"))).status).toBe(403);
    const ok = await scrape(wideUrl, await token("operator"));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("nimbus_jobs_submitted_total");
  });

  test("cache bound off loopback: the same rule", async () => {
    const url = wideCache.url.replace("0.0.0.0", "127.0.0.1");
    expect((await scrape(url)).status).toBe(401);
    expect((await scrape(url, await wideCache.roleToken("member", "acme"))).status).toBe(403);
    const ok = await scrape(url, await wideCache.adminToken());
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("nimbus_cache_hits_total");
  });
});

describe("bounded labels", () => {
  const deliver = async (event: string) => {
    const body = JSON.stringify({ zen: "x", hook_id: 1 });
    return fetch(`${open.url}/webhooks/github`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": randomUUID(), "x-hub-signature-256": await webhooks.sign(body) },
      body,
    });
  };
  const series = async () => (await (await scrape(open.url)).text()).split("\n").filter((l) => l.startsWith("nimbus_"));

  test("a storm of forged event names does not grow the series count: every unknown event is event=\"other\"", async () => {
    await deliver("forged-0");
    await deliver("ping");
    const before = await series();
    for (let i = 1; i <= 200; i++) expect((await deliver(`forged-${i}-${randomUUID()}`)).status).toBeLessThan(500);
    const after = await series();
    expect(after.length).toBe(before.length);
    expect(after.join("\n")).not.toContain("forged");
    expect(after).toContain('nimbus_github_webhooks_total{event="other",outcome="ignored"} 201');
    expect(after).toContain('nimbus_github_webhooks_total{event="ping",outcome="pong"} 1');
  });
});
