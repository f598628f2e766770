import type { AgentConfig } from "../agent.ts";
import { NoopDriver } from "./noop.ts";
import { SandboxDriver } from "./sandbox/driver.ts";
import type { Driver } from "./types.ts";

export function driverFor(config: AgentConfig): Driver {
  switch (config.driver) {
    case "noop":
      return new NoopDriver();
    case "sandbox":
      return new SandboxDriver({ root: `${config.stateDir}/instances`, uid: config.sandboxUid });
  }
}
