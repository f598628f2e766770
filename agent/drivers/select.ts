/** The drivers an agent's config names, each serving one isolation. */
import { join } from "node:path";
import type { Isolation } from "../../src/jobs/labels.ts";
import type { AgentConfig } from "../agent.ts";
import type { DriverName } from "../config.ts";
import { HostNetwork } from "../net/network.ts";
import type { Endpoint } from "../net/policy.ts";
import { NoopDriver } from "./noop.ts";
import { QemuDriver } from "./qemu/driver.ts";
import { SandboxDriver } from "./sandbox/driver.ts";
import type { Driver } from "./types.ts";

export const ISOLATION_OF: Record<DriverName, Isolation> = { sandbox: "sandbox", noop: "sandbox", qemu: "vm" };

function endpoint(text: string): Endpoint {
  const m = /^([0-9.]+(?:\/\d+)?)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`NIMBUS_VM_ALLOW: "${text}" is not an IP, CIDR or IP:PORT`);
  return m[2] ? { ip: m[1]!, port: Number(m[2]) } : { ip: m[1]! };
}

/** The host's side of microVM networking, or none (guests get loopback only). */
export function vmNetworkFor(config: AgentConfig): HostNetwork | undefined {
  if (config.vmNetwork === "none") return undefined;
  const cachePort = config.cacheUrl ? Number(new URL(config.cacheUrl).port || 80) : undefined;
  const hostPorts = [...new Set([...(cachePort ? [cachePort] : []), ...config.vmHostPorts])].map((port) => ({ port }));
  return new HostNetwork({
    dbPath: join(config.stateDir, "net.sqlite"),
    bridge: config.vmBridge,
    subnet: config.vmSubnet,
    dns: config.vmDns || undefined,
    netns: config.vmNetns || undefined,
    policy: { hostPorts, offline: config.vmNetwork === "offline", allow: config.vmAllow.map(endpoint) },
  });
}

function make(name: DriverName, config: AgentConfig, agentId: string, network: HostNetwork | undefined): Driver {
  switch (name) {
    case "noop":
      return new NoopDriver();
    case "sandbox":
      return new SandboxDriver({ root: join(config.sandboxDir, agentId), uid: config.sandboxUid, owner: agentId });
    case "qemu":
      return new QemuDriver({
        owner: agentId,
        stateDir: join(config.stateDir, "qemu"),
        assetsDir: config.vmAssetsDir,
        accel: config.vmAccel,
        network,
        netns: config.vmNetns || undefined,
      });
  }
}

export interface AgentDrivers {
  byIsolation: Map<Isolation, Driver>;
  /** The microVM network, when there is one. */
  network?: HostNetwork;
}

/** `agentId` scopes what each driver lists and destroys on a shared host. */
export function driversFor(config: AgentConfig, agentId: string): AgentDrivers {
  const network = config.drivers.includes("qemu") ? vmNetworkFor(config) : undefined;
  return { byIsolation: new Map(config.drivers.map((name) => [ISOLATION_OF[name], make(name, config, agentId, network)])), network };
}
