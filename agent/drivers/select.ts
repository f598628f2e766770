import { join } from "node:path";
import type { AgentConfig } from "../agent.ts";
import { NoopDriver } from "./noop.ts";
import { SandboxDriver } from "./sandbox/driver.ts";
import type { Driver } from "./types.ts";

/** The driver named in the config; `agentId` scopes what it lists and destroys on a shared host. */
export function driverFor(config: AgentConfig, agentId: string): Driver {
  switch (config.driver) {
    case "noop":
      return new NoopDriver();
    case "sandbox":
      return new SandboxDriver({ root: join(config.sandboxDir, agentId), uid: config.sandboxUid, owner: agentId });
  }
}
