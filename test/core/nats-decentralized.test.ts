/**
 * NATS decentralized auth against a real nats-server 2.9 in operator mode (src/nats/decentralized.ts):
 * the server's config names only the operator and account; users are JWTs the account key signs,
 * with src/nats/permissions.ts's permissions inside. Forged, expired and foreign-account users are refused;
 * a short-lived user whose credentials function renews it stays connected across expiry.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, openTopology } from "../../src/nats/topology.ts";
import { agentInboxPrefix, agentPermissions, agentUser } from "../../src/nats/permissions.ts";
import { mintUser, newTrust, operatorConfig, verifyJwt } from "../../src/nats/decentralized.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { waitFor } from "../support/net.ts";

const trust = newTrust();
let nats: NatsServer;
let control: NatsConnection;
const open: NatsConnection[] = [];

beforeAll(async () => {
  nats = await startNats({ extraConfig: operatorConfig(trust) });
  const creds = mintUser(trust.accountSeed, "control", undefined, 3_600_000);
  control = await connectNats({ url: nats.url, credentials: () => creds, name: "control" });
  await ensureTopology(control);
}, 30_000);
afterAll(async () => {
  await Promise.all([control, ...open].map((c) => c?.close().catch(() => {})));
  await nats?.stop();
});

const connectAs = async (creds: () => { jwt: string; seed: string }, inboxPrefix?: string) => {
  const nc = await connectNats({ url: nats.url, credentials: creds, name: "t", inboxPrefix });
  open.push(nc);
  return nc;
};
/** One connection attempt, no reconnects: the server's answer. */
const refusal = (creds: { jwt: string; seed: string }) =>
  connectAs(() => creds).then(
    async (nc) => (await nc.close(), "connected"),
    (e: Error) => e.message,
  );

describe("decentralized NATS auth", () => {
  test("the JWTs verify against their issuers, and a tampered one does not", () => {
    const u = mintUser(trust.accountSeed, "agent-a", agentPermissions("agent-a"), 60_000);
    const claims = verifyJwt(u.jwt)!;
    expect(claims.iss).toBe(trust.accountPublic);
    expect(claims.nats.pub.allow).toEqual(agentPermissions("agent-a").publish.allow);
    const [h, p, s] = u.jwt.split(".");
    const forged = JSON.parse(Buffer.from(p!, "base64url").toString());
    forged.nats.pub.allow = [">"];
    expect(verifyJwt(`${h}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${s}`)).toBeNull();
    expect(verifyJwt("not.a.jwt")).toBeNull();
  });

  test("an agent's user JWT can open the topology and is held to its permissions", async () => {
    const creds = mintUser(trust.accountSeed, agentUser("agent-a"), agentPermissions("agent-a"), 60_000);
    const nc = await connectAs(() => creds, agentInboxPrefix("agent-a"));
    const violations: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === "error" && s.error instanceof errors.PermissionViolationError) violations.push(`${s.error.operation} ${s.error.subject}`);
    })();
    const topo = await openTopology(nc, { waitMs: 5_000 });
    await topo.agents.put("agent-a", JSON.stringify({ id: "agent-a" })); // its registry entry: allowed
    // Another agent's inbox is not its to read.
    const other = `${agentInboxPrefix("agent-b")}.x`;
    nc.subscribe(other);
    await waitFor(() => violations.some((v) => v === `subscription ${other}`), 5_000, "a subscription violation");
    nc.publish("nimbus.not-a-subject-agents-use", new Uint8Array());
    await waitFor(() => violations.some((v) => v.startsWith("publish nimbus.not-a-subject")), 5_000, "a publish violation");
  });

  test("forged, expired and foreign-account users are refused", async () => {
    const foreign = newTrust(); // another operator's account: its users mean nothing here
    expect(await refusal(mintUser(foreign.accountSeed, "x", undefined, 60_000))).toMatch(/authorization|authentication/i);
    expect(await refusal(mintUser(trust.accountSeed, "x", undefined, -60_000))).toMatch(/authorization|authentication|expired/i);
    // A valid JWT presented with a seed that is not its key's.
    const good = mintUser(trust.accountSeed, "x", undefined, 60_000);
    const other = mintUser(trust.accountSeed, "y", undefined, 60_000);
    expect(await refusal({ jwt: good.jwt, seed: other.seed })).toMatch(/authorization|authentication/i);
    // A JWT whose claims were changed after signing.
    const [h, p, s] = good.jwt.split(".");
    const c = JSON.parse(Buffer.from(p!, "base64url").toString());
    c.exp += 86_400;
    expect(await refusal({ jwt: `${h}.${Buffer.from(JSON.stringify(c)).toString("base64url")}.${s}`, seed: good.seed })).toMatch(/authorization|authentication/i);
  });

  test("a short-lived user renewed by its credentials function outlives its first JWT; one not renewed is cut off", async () => {
    const issued: number[] = [];
    let current = mintUser(trust.accountSeed, "renewing", undefined, 2_000);
    const renewing = await connectAs(() => {
      if (current.expiresAt - Date.now() < 1_000) current = mintUser(trust.accountSeed, "renewing", undefined, 2_000, Date.now(), current.seed);
      issued.push(current.expiresAt);
      return current;
    });
    const fixed = mintUser(trust.accountSeed, "fixed", undefined, 2_000);
    const stale = await connectAs(() => fixed);
    await Bun.sleep(3_500);
    await waitFor(() => !renewing.isClosed() && new Set(issued).size >= 2, 10_000, "a renewed JWT in use");
    await renewing.flush(); // still served
    await waitFor(async () => (await stale.flush().then(() => false, () => true)) || stale.isClosed(), 10_000, "the unrenewed user cut off");
    await stale.close().catch(() => {});
  }, 30_000);
});
