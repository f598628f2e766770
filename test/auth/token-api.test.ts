/** The token API over one control plane and a real nats-server: mint policy, org-filtered listing, revocation, pruning. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { startControlPlane, type RunningControlPlane } from "../../src/control/server.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { entryFor, ledgerVerdict, type LedgerEntry } from "../../src/auth/ledger.ts";
import { PRUNE_GRACE_MS } from "../../src/auth/ledger-store.ts";
import { mintToken, verifyToken } from "../../src/auth/tokens.ts";
import { newTokenId } from "../../src/core/ids.ts";
import { requestHandout } from "../../src/jobs/handout.ts";
import { AppError } from "../../src/core/errors.ts";
import { readAudit, type AuditRecord } from "../../src/auth/audit.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";

const AUTH = "token-api-test-secret-0123456789abcdef";
let nats: NatsServer;
let cp: RunningControlPlane;
let operator: string;
let acmeAdmin: string;
let acmeMember: string;
let globexAdmin: string;

beforeAll(async () => {
  nats = await startNats();
  cp = await startControlPlane(
    loadConfig(controlSettings, { NIMBUS_NATS_URL: nats.url, NIMBUS_AUTH_SECRET: AUTH, NIMBUS_SECRETS_KEY: Buffer.alloc(32, 9).toString("base64url"), NIMBUS_CONTROL_PORT: String(await freePort()) }),
  );
  const boot = (r: Parameters<typeof bootstrapToken>[1]) => bootstrapToken(cp.ctx.tokens, r).then((m) => m.token);
  operator = await boot({ sub: "root", role: "operator", ttlSeconds: 86400 });
  acmeAdmin = await boot({ sub: "alice", role: "org-admin", org: "acme", ttlSeconds: 3600 });
  acmeMember = await boot({ sub: "bob", role: "member", org: "acme", ttlSeconds: 3600 });
  globexAdmin = await boot({ sub: "gina", role: "org-admin", org: "globex", ttlSeconds: 3600 });
}, 30_000);

afterAll(async () => {
  await cp?.stop();
  await nats?.stop();
});

async function api(path: string, token: string, body?: unknown) {
  const r = await fetch(cp.url + path, {
    method: body === undefined && !path.endsWith("/revoke") ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}

describe("minting", () => {
  test("an org-admin mints members, viewers, admins and service accounts for its own org; the entry records who and never the token", async () => {
    const r = await api("/api/tokens", acmeAdmin, { role: "viewer", name: "deploy-bot", ttl: "30m", service: true });
    expect(r.status).toBe(201);
    const e: LedgerEntry = r.body.entry;
    expect(e).toMatchObject({ role: "viewer", org: "acme", sub: "deploy-bot", service: true, version: 1, revoked: null, agentId: null, scopes: [] });
    expect(e.mintedBy.sub).toBe("alice");
    expect(e.mintedBy.tokenId).toBe((await verifyToken(AUTH, acmeAdmin)).tokenId);
    const v = await verifyToken(AUTH, r.body.token);
    expect(v).toMatchObject({ tokenId: e.id, role: "viewer", org: "acme", service: true });
    expect(JSON.stringify((await cp.ctx.topology.tokens.get(e.id))!.json())).not.toContain(r.body.token.split(".")[2]);
    // The new token works at once (the ledger knows it).
    expect((await api("/api/tokens", r.body.token)).status).toBe(403); // a viewer may not read tokens: authenticated, then refused
  });

  test("what an org-admin may not mint, nor a member, nor anyone a token outliving their own", async () => {
    expect(await api("/api/tokens", acmeAdmin, { role: "member", org: "globex", name: "x", ttl: "1h" })).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(await api("/api/tokens", acmeAdmin, { role: "operator", name: "x", ttl: "1h" })).toMatchObject({ status: 403 });
    expect(await api("/api/tokens", acmeAdmin, { role: "agent", name: "agent-1", ttl: "1h" })).toMatchObject({ status: 403 });
    expect(await api("/api/tokens", acmeMember, { role: "member", name: "x", ttl: "1h" })).toMatchObject({ status: 403 });
    expect(await api("/api/tokens", acmeAdmin, { role: "member", name: "x", ttl: "2h" })).toMatchObject({ status: 422, body: { details: { field: "ttl" } } });
    expect(await api("/api/tokens", acmeAdmin, { role: "member", name: "x", ttl: "forever" })).toMatchObject({ status: 400 });
    expect(await api("/api/tokens", operator, { role: "member", name: "x", ttl: "1h" })).toMatchObject({ status: 422, body: { details: { field: "org" } } });
  });

  test("an operator mints any role; an agent token is bound to its agent id", async () => {
    const r = await api("/api/tokens", operator, { role: "agent", name: "agent-7", ttl: "1h" });
    expect(r.status).toBe(201);
    expect(r.body.entry).toMatchObject({ role: "agent", agentId: "agent-7", org: null });
    expect((await verifyToken(AUTH, r.body.token)).agentId).toBe("agent-7");
  });
});

test("no ttl asked: 30 days, but never past the minter's own expiry (an hour-long admin's mint is an hour)", async () => {
  const r = await api("/api/tokens", acmeAdmin, { role: "member", name: "no-ttl" });
  expect(r.status).toBe(201);
  const left = Date.parse(r.body.entry.expiresAt) - Date.now();
  expect(left).toBeLessThanOrEqual(3600_000);
  expect(left).toBeGreaterThan(3000_000);
  const long = await api("/api/tokens", operator, { role: "member", org: "acme", name: "no-ttl-2" });
  expect(Date.parse(long.body.entry.expiresAt)).toBe((await verifyToken(AUTH, operator)).exp * 1000); // capped at the operator's day
});

test("mint and revoke are audit records: who, which org, the outcome (refused ones too)", async () => {
  const minted = await api("/api/tokens", acmeAdmin, { role: "viewer", name: "audited", ttl: "10m" });
  await api(`/api/tokens/${minted.body.entry.id}/revoke`, acmeAdmin);
  expect((await api("/api/tokens", acmeAdmin, { role: "operator", name: "nope", ttl: "10m" })).status).toBe(403);
  const records: AuditRecord[] = [];
  for await (const rec of readAudit(cp.ctx.topology.js, { org: "acme" })) records.push(rec);
  const mine = records.filter((r) => r.actor.sub === "alice" && r.action.startsWith("token."));
  expect(mine.map((r) => [r.action, r.outcome])).toEqual(expect.arrayContaining([["token.mint", "ok"], ["token.revoke", "ok"], ["token.mint", "forbidden"]]));
  expect(mine.find((r) => r.action === "token.mint" && r.detail?.id === minted.body.entry.id)!.detail).toMatchObject({ id: minted.body.entry.id, role: "viewer", sub: "audited" });
  expect(mine.find((r) => r.action === "token.revoke")!.target).toBe(minted.body.entry.id);
  expect(JSON.stringify(records)).not.toContain(minted.body.token.split(".")[2]); // never the token
});

describe("listing and revoking", () => {
  test("an org-admin lists its org's tokens only; an operator lists all or one org", async () => {
    const mine = await api("/api/tokens", acmeAdmin);
    expect(mine.status).toBe(200);
    expect(new Set(mine.body.tokens.map((t: LedgerEntry) => t.org))).toEqual(new Set(["acme"]));
    expect((await api("/api/tokens?org=globex", acmeAdmin)).status).toBe(403);
    const all = await api("/api/tokens", operator);
    expect(new Set(all.body.tokens.map((t: LedgerEntry) => t.org))).toEqual(new Set([null, "acme", "globex"]));
    const globex = await api("/api/tokens?org=globex", operator);
    expect(globex.body.tokens.map((t: LedgerEntry) => t.sub)).toEqual(["gina"]);
    expect((await api("/api/tokens", acmeMember)).status).toBe(403);
  });

  test("revoking: another org's token is a 404, a member may not, an org-admin revokes its org's; the revoked token is refused", async () => {
    const victim = (await api("/api/tokens", acmeAdmin, { role: "member", name: "carol", ttl: "10m" })).body;
    expect(await api(`/api/tokens/${victim.entry.id}/revoke`, globexAdmin)).toMatchObject({ status: 404, body: { code: "not_found" } });
    expect(await api(`/api/tokens/${victim.entry.id}/revoke`, acmeMember)).toMatchObject({ status: 403 });
    expect(await api("/api/tokens/t-nosuchtoken/revoke", operator)).toMatchObject({ status: 404 });
    const r = await api(`/api/tokens/${victim.entry.id}/revoke`, acmeAdmin);
    expect(r.status).toBe(200);
    expect(r.body.token.revoked.by.sub).toBe("alice");
    expect((await api(`/api/tokens/${victim.entry.id}/revoke`, operator)).body.token.revoked.by.sub).toBe("alice"); // once
    const deadline = Date.now() + 5000;
    let last;
    while (Date.now() < deadline && (last = await api("/api/jobs", victim.token)).status !== 401) await Bun.sleep(20);
    expect(last).toMatchObject({ status: 401, body: { message: "token was revoked" } });
  });
});

describe("the ledger's rules", () => {
  test("a token below the ledger's version is superseded; unknown is not in the ledger", async () => {
    const m = await mintToken(AUTH, { sub: "x", role: "operator", ttlSeconds: 60, version: 1 });
    const t = await verifyToken(AUTH, m.token);
    const entry = entryFor({ sub: "x", role: "operator", ttlSeconds: 60, id: m.id, version: 2 }, m.expiresAt, { sub: "root", tokenId: null });
    expect(() => ledgerVerdict(entry, t)).toThrow("token was superseded");
    expect(() => ledgerVerdict({ ...entry, version: 1 }, t)).not.toThrow();
    expect(() => ledgerVerdict(undefined, t)).toThrow("token is not in the ledger");
  });

  test("expired entries are pruned, live ones kept", async () => {
    const id = newTokenId();
    const old = entryFor({ sub: "old", role: "operator", ttlSeconds: 1, id }, Math.floor((Date.now() - PRUNE_GRACE_MS - 60_000) / 1000), { sub: "root", tokenId: null });
    await cp.ctx.tokens.ledger.record(old);
    expect(await cp.ctx.tokens.ledger.get(id)).not.toBeNull();
    expect(await cp.ctx.tokens.ledger.prune()).toBe(1);
    expect(await cp.ctx.tokens.ledger.get(id)).toBeNull();
    expect((await api("/api/tokens", operator)).status).toBe(200);
  });
});

test("the secrets handout checks the ledger: a revoked or unrecorded agent token is refused before the job is looked at", async () => {
  const code = (p: Promise<unknown>) => p.then(() => "ok", (e) => (e instanceof AppError ? `${e.code}: ${e.message}` : String(e)));
  const ask = (agentToken: string) => requestHandout(cp.ctx.nc, { jobId: "j-nosuchjob", attempt: 1, agentId: "agent-h", leaseRevision: 1, agentToken });
  const agent = await bootstrapToken(cp.ctx.tokens, { sub: "agent-h", role: "agent", ttlSeconds: 600 });
  expect(await code(ask(agent.token))).toBe("not_found: job j-nosuchjob not found"); // recorded: it gets as far as the job
  await cp.ctx.tokens.ledger.revoke(agent.entry.id, { sub: "root", tokenId: null });
  const deadline = Date.now() + 5000;
  let last = "";
  while (Date.now() < deadline && !(last = await code(ask(agent.token))).startsWith("unauthorized")) await Bun.sleep(20);
  expect(last).toBe("unauthorized: token was revoked");
  const stray = (await mintToken(AUTH, { sub: "agent-h", role: "agent", ttlSeconds: 600 })).token;
  expect(await code(ask(stray))).toBe("unauthorized: token is not in the ledger");
});
