/**
 * Enrollment on a real stack (real nats-server, the control plane as a process): an operator mints a
 * one-time enrollment token; POST /api/agents/enroll spends it on a proposed agent id and answers
 * that agent's own token (bound to the id, recorded in the ledger) and the endpoints it should use.
 * Used, expired, revoked, forged, wrong-role, malformed and oversized requests are refused and mint
 * nothing; of concurrent uses of one token exactly one succeeds.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createUser } from "@nats-io/nkeys";
import { newTrust } from "../../src/nats/decentralized.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { openTopology } from "../../src/nats/topology.ts";
import { putAgent } from "../../src/agents/registry.ts";
import type { LedgerEntry } from "../../src/auth/ledger.ts";
import type { EnrollResponse } from "../../src/protocol/agent-enroll.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { testControlPlane } from "../support/control.ts";

const trust = newTrust();
let s: TestStack;

beforeAll(async () => {
  s = await testStack({ agents: 0, controlEnv: { NIMBUS_NATS_ACCOUNT_SEED: trust.accountSeed, NIMBUS_ENROLL_NATS_URL: "nats://10.0.0.1:4222,nats://10.0.0.2:4222" } });
}, 60_000);
afterAll(async () => {
  await s?.destroy();
}, 30_000);

type Answer = EnrollResponse & { code?: string; message?: string; details?: { reason?: string } };
const enroll = (token: string | null, body: unknown, raw?: string) =>
  s.api<Answer>("/api/agents/enroll", raw === undefined ? { method: "POST", json: body, token } : { method: "POST", body: raw, token, headers: { "content-type": "application/json" } });
const mintEnroll = async (ttl = "1h", token?: string) => {
  const r = await s.api<{ token: string; entry: LedgerEntry; code?: string }>("/api/tokens", { method: "POST", json: { role: "enroll", name: "rack-7", ttl }, token });
  return r;
};
const ledger = async () => (await s.api<{ tokens: LedgerEntry[] }>("/api/tokens")).body.tokens;
const agentTokensBy = async (enrollId: string) => (await ledger()).filter((t) => t.role === "agent" && t.mintedBy.tokenId === enrollId);

describe("enrollment tokens and POST /api/agents/enroll", () => {
  test("an operator's enrollment token buys an agent its own token and settings, once", async () => {
    const m = await mintEnroll();
    expect(m.status).toBe(201);
    expect(m.body.entry).toMatchObject({ role: "enroll", org: null, used: null });
    const r = await enroll(m.body.token, { agentId: "host-b-1" });
    expect(r.status).toBe(201);
    expect(r.body.agentId).toBe("host-b-1");
    expect(r.body.settings).toMatchObject({
      NIMBUS_AGENT_ID: "host-b-1",
      NIMBUS_NATS_URL: "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
      NIMBUS_LOGS_URL: s.logsUrl,
      NIMBUS_AGENT_CACHE_URL: s.cacheUrl,
      NIMBUS_AGENT_REGISTRY_URL: s.registryUrl,
    });
    // The agent token is bound to the proposed id and recorded, minted by the enrollment token.
    const agentToken = r.body.settings.NIMBUS_AGENT_TOKEN!;
    const claims = JSON.parse(Buffer.from(agentToken.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ role: "agent", agent: "host-b-1", sub: "host-b-1", jti: r.body.tokenId });
    const minted = await agentTokensBy(m.body.entry.id);
    expect(minted.map((t) => t.id)).toEqual([r.body.tokenId]);
    // It is a working agent token: it buys that agent's NATS user.
    const creds = await s.api<{ jwt?: string }>("/api/agents/nats-credentials", { method: "POST", json: { publicKey: createUser().getPublicKey() }, token: agentToken });
    expect(creds.status).toBe(200);
    expect(creds.body.jwt).toBeString();
    // The enrollment token is spent: recorded as used, refused the second time, and shown as used.
    const entry = (await ledger()).find((t) => t.id === m.body.entry.id)!;
    expect(entry.used).toMatchObject({ agentId: "host-b-1" });
    const again = await enroll(m.body.token, { agentId: "host-b-2" });
    expect(again.status).toBe(401);
    expect(again.body.message).toContain("already used");
    expect(await agentTokensBy(m.body.entry.id)).toHaveLength(1);
  });

  test("two concurrent uses of one token: exactly one succeeds", async () => {
    const m = await mintEnroll();
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => enroll(m.body.token, { agentId: `race-${i}` })));
    const ok = rs.filter((r) => r.status === 201);
    expect(ok).toHaveLength(1);
    expect(rs.filter((r) => r.status === 401)).toHaveLength(5);
    expect((await agentTokensBy(m.body.entry.id)).map((t) => t.agentId)).toEqual([ok[0]!.body.agentId]);
  });

  test("expired, revoked, forged and wrong-role tokens: refused, nothing minted", async () => {
    const short = await mintEnroll("1s");
    await Bun.sleep(2100);
    const expired = await enroll(short.body.token, { agentId: "late-1" });
    expect(expired.status).toBe(401);
    expect(expired.body.message).toContain("expired");

    const revoked = await mintEnroll();
    expect((await s.api(`/api/tokens/${revoked.body.entry.id}/revoke`, { method: "POST" })).status).toBe(200);
    expect((await enroll(revoked.body.token, { agentId: "rev-1" })).status).toBe(401);

    const good = await mintEnroll();
    const [h, p, sig] = good.body.token.split(".");
    const forgedClaims = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), jti: "t-forged" })).toString("base64url");
    expect((await enroll(`${h}.${forgedClaims}.${sig}`, { agentId: "forged-1" })).status).toBe(401);
    expect((await enroll(good.body.token.slice(0, -4) + "AAAA", { agentId: "forged-2" })).status).toBe(401);
    expect((await enroll(null, { agentId: "anon-1" })).status).toBe(401);
    // Operator, member and agent tokens are not enrollment tokens.
    expect((await enroll(s.adminToken, { agentId: "op-1" })).status).toBe(403);
    const member = await s.token({ sub: "dev", role: "member", org: "acme", ttlSeconds: 600 });
    expect((await enroll(member, { agentId: "member-1" })).status).toBe(403);
    const agent = await s.token({ sub: "a-1", role: "agent", agentId: "a-1", ttlSeconds: 600 });
    expect((await enroll(agent, { agentId: "a-2" })).status).toBe(403);
    for (const t of [short, revoked, good]) expect(await agentTokensBy(t.body.entry.id)).toHaveLength(0);
    // The untouched token still works: the forgeries spent nothing.
    expect((await enroll(good.body.token, { agentId: "good-1" })).status).toBe(201);
  });

  test("malformed, oversized or taken agent ids: 4xx naming the problem, the token not spent", async () => {
    const m = await mintEnroll();
    const cases: [unknown, string | undefined, number][] = [
      [{}, undefined, 422],
      [{ agentId: 7 }, undefined, 422],
      [{ agentId: "" }, undefined, 422],
      [{ agentId: "has space" }, undefined, 422],
      [{ agentId: "x".repeat(65) }, undefined, 422],
      [{ agentId: "a.b>" }, undefined, 422],
      [{ agentId: "ok-1", role: "operator" }, undefined, 422],
      [["ok-1"], undefined, 422],
      [undefined, "{not json", 400],
      [undefined, JSON.stringify({ agentId: "a".repeat(4000) }), 413],
    ];
    for (const [body, raw, status] of cases) {
      const r = await enroll(m.body.token, body, raw);
      expect([JSON.stringify(body ?? raw).slice(0, 60), r.status]).toEqual([JSON.stringify(body ?? raw).slice(0, 60), status]);
      expect(r.body.settings).toBeUndefined();
    }
    // An id a live agent already has is a conflict.
    const nc = await connectNats({ url: s.natsUrl, ...s.natsAuth, name: "test-registry" });
    const topo = await openTopology(nc);
    await putAgent(topo.agents, { id: "live-1", hostname: "h", labels: [], pools: [], drivers: [], slots: 1, running: [], draining: false, startedAt: Date.now(), heartbeatAt: Date.now(), version: "t" });
    const taken = await enroll(m.body.token, { agentId: "live-1" });
    expect(taken.status).toBe(409);
    await topo.agents.delete("live-1");
    await nc.close();
    expect(await agentTokensBy(m.body.entry.id)).toHaveLength(0);
    expect((await enroll(m.body.token, { agentId: "fine-1" })).status).toBe(201);
  });

  test("only operators mint enrollment tokens; an enrollment token opens no other route", async () => {
    const admin = await s.token({ sub: "boss", role: "org-admin", org: "acme", ttlSeconds: 3600 });
    expect((await mintEnroll("1h", admin)).status).toBe(403);
    const member = await s.token({ sub: "dev2", role: "member", org: "acme", ttlSeconds: 3600 });
    expect((await mintEnroll("1h", member)).status).toBe(403);
    const m = await mintEnroll();
    expect((await s.api("/api/jobs", { token: m.body.token })).status).toBe(403);
    expect((await s.api("/api/tokens", { method: "POST", json: { role: "enroll", name: "x" }, token: m.body.token })).status).toBe(403);
    expect((await s.api("/api/agents/nats-credentials", { method: "POST", json: { publicKey: createUser().getPublicKey() }, token: m.body.token })).status).toBe(403);
  });

  test("a control plane that mints no NATS users refuses to enroll (503) and does not spend the token", async () => {
    const m = await mintEnroll();
    const bare = await testControlPlane({ natsUrl: s.natsUrl, authSecret: s.authSecret, webhookSecret: "w".repeat(32), env: { NIMBUS_NATS_USER: s.natsAuth.user!, NIMBUS_NATS_PASSWORD: s.natsAuth.password! } });
    try {
      const res = await fetch(`${bare.url}/api/agents/enroll`, { method: "POST", headers: { authorization: `Bearer ${m.body.token}`, "content-type": "application/json" }, body: JSON.stringify({ agentId: "nojwt-1" }) });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { message: string }).message).toContain("NIMBUS_NATS_ACCOUNT_SEED");
    } finally {
      await bare.stop();
    }
    expect((await enroll(m.body.token, { agentId: "nojwt-1" })).status).toBe(201);
  });
});
