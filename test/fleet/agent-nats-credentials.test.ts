/**
 * POST /api/agents/nats-credentials on a real control plane: an agent token trades the public half of
 * a key it made for a short-lived NATS user JWT with exactly its agent permissions, which a real
 * nats-server in operator mode (trusting only the operator and the account) accepts. Everyone else,
 * and anything malformed, is refused; a revoked agent token gets nothing more.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createUser } from "@nats-io/nkeys";
import { errors } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.ts";
import { agentInboxPrefix, agentPermissions, agentUser } from "../../src/nats/permissions.ts";
import { newTrust, operatorConfig, verifyJwt } from "../../src/nats/decentralized.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

const trust = newTrust();
let s: TestStack;
let nats: NatsServer;
let agentToken: string;
const dec = new TextDecoder();

beforeAll(async () => {
  [s, nats] = await Promise.all([
    testStack({ agents: 0, controlEnv: { NIMBUS_NATS_ACCOUNT_SEED: trust.accountSeed, NIMBUS_NATS_USER_TTL_MS: "60000" } }),
    startNats({ extraConfig: operatorConfig(trust) }),
  ]);
  agentToken = await s.token({ sub: "remote-1", role: "agent", agentId: "remote-1", ttlSeconds: 3600 });
}, 60_000);
afterAll(async () => {
  await nats?.stop();
  await s?.destroy();
}, 30_000);

const ask = (token: string | null, body: unknown, raw?: string) =>
  s.api<{ jwt?: string; expiresAt?: string; code?: string; message?: string }>("/api/agents/nats-credentials", raw === undefined ? { method: "POST", json: body, token } : { method: "POST", body: raw, token, headers: { "content-type": "application/json" } });

describe("an agent's NATS credentials from the control plane", () => {
  test("an agent token gets a JWT for its own key, with its agent permissions, that the server accepts", async () => {
    const key = createUser();
    const r = await ask(agentToken, { publicKey: key.getPublicKey() });
    expect(r.status).toBe(200);
    const claims = verifyJwt(r.body.jwt!)!;
    expect(claims).toMatchObject({ iss: trust.accountPublic, sub: key.getPublicKey(), name: agentUser("remote-1") });
    expect(claims.nats.pub.allow).toEqual(agentPermissions("remote-1").publish.allow);
    expect(claims.nats.sub.allow).toEqual(agentPermissions("remote-1").subscribe.allow);
    expect(claims.exp * 1000 - Date.now()).toBeLessThanOrEqual(60_000);
    expect(claims.exp * 1000 - Date.now()).toBeGreaterThan(50_000);
    // Used against an operator-mode server: connected, and held to the agent's permissions.
    const nc = await connectNats({ url: nats.url, credentials: () => ({ jwt: r.body.jwt!, seed: dec.decode(key.getSeed()) }), name: "remote-1", inboxPrefix: agentInboxPrefix("remote-1") });
    const violations: string[] = [];
    void (async () => {
      for await (const st of nc.status()) if (st.type === "error" && st.error instanceof errors.PermissionViolationError) violations.push(st.error.subject);
    })();
    await nc.flush();
    nc.subscribe(`${agentInboxPrefix("other")}.x`);
    await waitFor(() => violations.includes(`${agentInboxPrefix("other")}.x`), 5_000, "a violation");
    await nc.close();
    // The key's seed never left the agent: the JWT alone does not connect.
    const stolen = createUser();
    await expect(connectNats({ url: nats.url, credentials: () => ({ jwt: r.body.jwt!, seed: dec.decode(stolen.getSeed()) }), name: "thief" }).then((c) => c.close())).rejects.toThrow();
  });

  test("no token, a forged token, an operator or org token: refused, nothing minted", async () => {
    const body = { publicKey: createUser().getPublicKey() };
    expect((await ask(null, body)).status).toBe(401);
    expect((await ask(agentToken.slice(0, -4) + "AAAA", body)).status).toBe(401);
    expect((await ask(s.adminToken, body)).status).toBe(403);
    const orgToken = await s.token({ sub: "dev", role: "member", org: "acme", ttlSeconds: 600 } as never);
    const r = await ask(orgToken, body);
    expect(r.status).toBe(403);
    expect(r.body.jwt).toBeUndefined();
  });

  /** The key with its last character changed (to another: a key already ending in "A" must not stay valid). */
  const brokenChecksum = (key: string) => key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");

  test("malformed or oversized requests: 4xx with the reason", async () => {
    const cases: [unknown, string | undefined, number][] = [
      [{}, undefined, 422],
      [{ publicKey: "UABC" }, undefined, 422],
      [{ publicKey: trust.accountPublic }, undefined, 422], // an account key is not a user's
      [{ publicKey: brokenChecksum(createUser().getPublicKey()) }, undefined, 422], // checksum broken
      [{ publicKey: createUser().getPublicKey(), permissions: { pub: [">"] } }, undefined, 422], // asking for more
      [[createUser().getPublicKey()], undefined, 422],
      [undefined, "{not json", 400],
      [undefined, JSON.stringify({ publicKey: "U".repeat(4000) }), 413],
    ];
    for (const [body, raw, status] of cases) {
      const r = await ask(agentToken, body, raw);
      expect([JSON.stringify(body ?? raw).slice(0, 60), r.status]).toEqual([JSON.stringify(body ?? raw).slice(0, 60), status]);
      expect(r.body.jwt).toBeUndefined();
    }
  });

  test("a revoked agent token gets no new JWT", async () => {
    const token = await s.token({ sub: "remote-2", role: "agent", agentId: "remote-2", ttlSeconds: 3600 });
    const key = createUser().getPublicKey();
    expect((await ask(token, { publicKey: key })).status).toBe(200);
    const { jti } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()); // the ledger's id of it
    expect((await s.api(`/api/tokens/${jti}/revoke`, { method: "POST" })).status).toBe(200);
    await waitFor(async () => (await ask(token, { publicKey: key })).status === 401, 5_000, "the revoked token refused");
  });
});
