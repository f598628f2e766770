/** The drivers an agent's config names, each serving one isolation. */
import { join } from "node:path";
import type { Isolation } from "../../src/jobs/labels.ts";
import type { AgentConfig } from "../agent.ts";
import type { DriverName } from "../config.ts";
import { NoopDriver } from "./noop.ts";
import { QemuDriver } from "./qemu/driver.ts";
import { SandboxDriver } from "./sandbox/driver.ts";
import type { Driver } from "./types.ts";

export const ISOLATION_OF: Record<DriverName, Isolation> = { sandbox: "sandbox", noop: "sandbox", qemu: "vm" };

function make(name: DriverName, config: AgentConfig, agentId: string): Driver {
  switch (name) {
    case "noop":
      return new NoopDriver();
    case "sandbox":
      return new SandboxDriver({ root: join(config.sandboxDir, agentId), uid: config.sandboxUid, owner: agentId });
    case "qemu":
      return new QemuDriver({ owner: agentId, stateDir: join(config.stateDir, "qemu"), assetsDir: config.vmAssetsDir, accel: config.vmAccel });
  }
}

/** `agentId` scopes what each driver lists and destroys on a shared host. */
export function driversFor(config: AgentConfig, agentId: string): Map<Isolation, Driver> {
  return new Map(config.drivers.map((name) => [ISOLATION_OF[name], make(name, config, agentId)]));
}
