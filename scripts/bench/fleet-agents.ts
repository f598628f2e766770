/**
 * A worker of scripts/bench/fleet.ts: COUNT host agents in one process (the noop driver), each with
 * its own NATS connection, consumer, SQLite state and agent token, as separate hosts would have.
 *
 *   bun run scripts/bench/fleet-agents.ts --first N --count K      (settings from the environment)
 *
 * Prints "ready" once every agent is up; stops them all on SIGTERM.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/core/config/load.ts";
import { agentSettings } from "../../src/agents/settings.ts";
import { githubAgentSettings } from "../../src/github/config.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { startAgent, type RunningAgent } from "../../agent/agent.ts";
import { driversFor } from "../../agent/drivers/select.ts";

const { values } = parseArgs({ options: { first: { type: "string", default: "1" }, count: { type: "string", default: "50" } } });
const first = Number(values.first);
const count = Number(values.count);
const env = process.env as Record<string, string>;
const nc = await connectNats({ url: env.NIMBUS_NATS_URL!, name: "fleet-bench-minter" });
const minting = { secret: env.NIMBUS_AUTH_SECRET!, ledger: new TokenLedger(await ensureTokenLedger(nc)) };
const agents: RunningAgent[] = [];
// A few at a time: each start binds its consumer and registers, and 200 at once would only queue on the server.
for (let i = first; i < first + count; i += 10) {
  const batch = Array.from({ length: Math.min(10, first + count - i) }, (_, k) => i + k);
  agents.push(
    ...(await Promise.all(
      batch.map(async (n) => {
        const id = `fleet-${n}`;
        const token = (await bootstrapToken(minting, { sub: id, role: "agent", agentId: id, ttlSeconds: 86_400 })).token;
        const source = { ...env, NIMBUS_AGENT_ID: id, NIMBUS_AGENT_TOKEN: token, NIMBUS_AGENT_DIR: join(env.FLEET_AGENT_DIR!, id) };
        const config = loadConfig(agentSettings, source);
        return startAgent(config, loadConfig(githubAgentSettings, source), (agentId) => driversFor(config, agentId));
      }),
    )),
  );
}
await nc.close();
console.log("ready");
process.on("SIGTERM", async () => {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  process.exit(0);
});
