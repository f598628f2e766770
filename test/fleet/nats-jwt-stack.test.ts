/**
 * The whole stack under decentralized NATS auth (`nimbus up --nats-auth jwt`): nats-server trusts an
 * operator and lists no users; the services run on user JWTs; the agent has no NATS credentials at all
 * until it buys a short-lived JWT from the control plane with its agent token, and keeps renewing it.
 * Revoking the agent token cuts the agent off NATS within one JWT's life.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

let s: TestStack;
const TTL = 10_000; // the shortest a JWT may live (NIMBUS_NATS_USER_TTL_MS)

beforeAll(async () => {
  s = await testStack({ natsAuth: "jwt", agents: 1, controlEnv: { NIMBUS_NATS_USER_TTL_MS: String(TTL) } });
}, 60_000);
afterAll(async () => {
  await s?.destroy();
}, 60_000);

const connz = async () => (await (await fetch(`${s.natsMonitorUrl}/connz?auth=true`)).json()).connections as { name?: string; authorized_user?: string }[];

describe("the stack on decentralized NATS auth", () => {
  test("the server config names an operator and no users; the agent was given no NATS credentials", () => {
    const conf = readFileSync(join(s.dataDir, "nats.conf"), "utf8");
    expect(conf).toContain("operator:");
    expect(conf).toContain("resolver: MEMORY");
    expect(conf).not.toContain("authorization");
    const env = s.children.get("agent-1")!.env;
    expect(env.NIMBUS_NATS_USER).toBeUndefined();
    expect(env.NIMBUS_NATS_PASSWORD).toBeUndefined();
    expect(env.NIMBUS_NATS_JWT).toBeUndefined();
    expect(env.NIMBUS_AGENT_CONTROL_URL).toBe(s.controlUrl);
  });

  test("jobs run; after the agent's first JWT expired it is still connected (renewed) and still runs jobs", async () => {
    await s.waitAgents(1);
    const first = await s.submit({ command: ["sh", "-c", "echo one"] });
    expect((await s.waitJob(first.id)).state).toBe("succeeded");
    await Bun.sleep(TTL + 2_000);
    const second = await s.submit({ command: ["sh", "-c", "echo two"] });
    expect((await s.waitJob(second.id)).state).toBe("succeeded");
    expect((await s.logs(second.id)).map((l) => l.text)).toEqual(["two"]);
    expect((await connz()).some((c) => c.name === `nimbus-agent-${s.agentId("agent-1")}`)).toBe(true);
  }, 60_000);

  test("revoking the agent token: renewals are refused and the agent is cut off NATS within the JWT's life", async () => {
    const token = s.children.get("agent-1")!.env.NIMBUS_AGENT_TOKEN!;
    const { jti } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect((await s.api(`/api/tokens/${jti}/revoke`, { method: "POST" })).status).toBe(200);
    const agentConn = `nimbus-agent-${s.agentId("agent-1")}`;
    await waitFor(async () => !(await connz()).some((c) => c.name === agentConn), TTL + 10_000, "the agent cut off", 500);
    const log = readFileSync(join(s.dataDir, "logs", "agent-1.log"), "utf8");
    expect(log).toContain("NATS credentials renewal failed");
  }, 60_000);
});
