/** `bun run agent/main.ts`: the host agent process. */
import { loadConfig } from "../src/core/config/load.ts";
import { runService } from "../src/core/service.ts";
import { agentSettings } from "../src/agents/settings.ts";
import { startAgent } from "./agent.ts";
import { driversFor } from "./drivers/select.ts";
import { githubAgentSettings } from "../src/github/config.ts";
import { runnerMounts } from "./github/runner.ts";
import { ImageStore } from "./images/store.ts";

// A drain waits for running jobs (up to their own timeouts), so the forced exit comes much later.
await runService(
  "agent",
  async () => {
    // Both settings specs are read and checked here, once, before anything starts.
    const config = loadConfig(agentSettings);
    const github = loadConfig(githubAgentSettings);
    // The runner is attached to every VM, so GitHub jobs can take warm VMs and snapshots too; a VM
    // image with a runner baked in at /runner needs none attached (its own is started).
    const baked = new ImageStore(config.imagesDir).activeHasRunner();
    return startAgent(config, github, (agentId) => driversFor(config, agentId, { standingMounts: runnerMounts(github, baked) }));
  },
  { forceExitAfterMs: 25 * 3_600_000 },
);
