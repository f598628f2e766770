/** `bun run agent/main.ts`: the host agent process. */
import { loadConfig } from "../src/core/config/load.ts";
import { runService } from "../src/core/service.ts";
import { agentSettings } from "./config.ts";
import { startAgent } from "./agent.ts";
import { driversFor } from "./drivers/select.ts";

// A drain waits for running jobs (up to their own timeouts), so the forced exit comes much later.
await runService(
  "agent",
  async () => {
    const config = loadConfig(agentSettings);
    return startAgent(config, (agentId) => driversFor(config, agentId));
  },
  { forceExitAfterMs: 25 * 3_600_000 },
);
