/** The drivers an agent's config names, each serving one isolation. */
import { join } from "node:path";
import type { Isolation } from "../../src/jobs/labels.ts";
import type { AgentConfig, DriverName } from "../../src/agents/settings.ts";
import { HostNetwork } from "../net/network.ts";
import type { Endpoint } from "../net/policy.ts";
import { NoopDriver } from "./noop.ts";
import { QemuDriver } from "./qemu/driver.ts";
import { FirecrackerDriver } from "./firecracker/driver.ts";
import { SandboxDriver } from "./sandbox/driver.ts";
import { JobNamespaces } from "../net/job-netns.ts";
import { loadVmAssets } from "../../src/vm/assets.ts";
import { ImageStore } from "../images/store.ts";
import { OciImages } from "../images/oci.ts";
import { jobRootfs } from "../images/rootfs.ts";
import { SnapshotPool } from "./qemu/snapshot-pool.ts";
import { parseWarmClasses, parseWarmSchedule, warmClassName } from "../../src/agents/warm-schedule.ts";
import { AppError } from "../../src/core/errors.ts";
import type { Driver } from "./types.ts";

export const ISOLATION_OF: Record<DriverName, Isolation> = { sandbox: "sandbox", noop: "sandbox", qemu: "vm", firecracker: "vm" };

function endpoint(text: string): Endpoint {
  const m = /^([0-9.]+(?:\/\d+)?)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`NIMBUS_VM_ALLOW: "${text}" is not an IP, CIDR or IP:PORT`);
  return m[2] ? { ip: m[1]!, port: Number(m[2]) } : { ip: m[1]! };
}

/** The host's side of microVM networking, or none (guests get loopback only). */
export function vmNetworkFor(config: AgentConfig): HostNetwork | undefined {
  if (config.vmNetwork === "none") return undefined;
  const cachePort = config.cacheUrl ? Number(new URL(config.cacheUrl).port || 80) : undefined;
  const registryPort = config.registryUrl ? Number(new URL(config.registryUrl).port || 80) : undefined;
  const hostPorts = [...new Set([...(cachePort ? [cachePort] : []), ...(registryPort ? [registryPort] : []), ...config.vmHostPorts])].map((port) => ({ port }));
  return new HostNetwork({
    dbPath: join(config.stateDir, "net.sqlite"),
    bridge: config.vmBridge,
    subnet: config.vmSubnet,
    dns: config.vmDns || undefined,
    netns: config.vmNetns || undefined,
    policy: { hostPorts, offline: config.vmNetwork === "offline", allow: config.vmAllow.map(endpoint) },
  });
}

/** The driver's job disk and its snapshots' must agree: a restored guest has seen the disk's size. */
const JOB_DISK_GIB = 16;

/** The assets' rootfs when they exist; otherwise probe() reports the missing assets by itself. */
function safeFallbackRootfs(dir: string): string | undefined {
  try {
    return loadVmAssets(dir).rootfs;
  } catch {
    return undefined;
  }
}

/** The rootfs hook of the microVM drivers: image:<ref> jobs' OCI images, else the active image, else the test rootfs. */
function vmRootfs(config: AgentConfig) {
  const images = new ImageStore(config.imagesDir);
  const oci = new OciImages({ store: images, insecureRegistries: config.imageInsecureRegistries, authFile: config.imageAuthFile || undefined });
  return jobRootfs({ store: images, oci, fallback: safeFallbackRootfs(config.vmAssetsDir) });
}

export interface DriverExtras {
  /** Host directories attached to every microVM (the GitHub runner), so warm VMs fit those jobs. */
  standingMounts?: { source: string; target: string }[];
}

function make(name: DriverName, config: AgentConfig, agentId: string, network: HostNetwork | undefined, extras: DriverExtras): Driver {
  switch (name) {
    case "noop":
      return new NoopDriver();
    case "sandbox":
      return new SandboxDriver({ root: join(config.sandboxDir, agentId), uid: config.sandboxUid, owner: agentId, ...sandboxNetwork(config, network) });
    case "firecracker": {
      const [uid, gid] = config.firecrackerJailer ? config.firecrackerJailer.split(":").map(Number) : [];
      return new FirecrackerDriver({
        stateDir: join(config.stateDir, "firecracker"),
        assetsDir: config.vmAssetsDir,
        binary: config.firecrackerBinary,
        jailer: uid !== undefined ? { uid, gid: gid!, chrootBase: config.firecrackerChrootBase, cgroupVersion: 2, cgroups: config.firecrackerCgroups } : undefined,
        network,
        jobDiskGiB: JOB_DISK_GIB,
        rootfs: vmRootfs(config),
        jobConfig: config.firecrackerJobConfig,
      });
    }
    case "qemu": {
      return new QemuDriver({
        owner: agentId,
        stateDir: join(config.stateDir, "qemu"),
        assetsDir: config.vmAssetsDir,
        accel: config.vmAccel,
        network,
        netns: config.vmNetns || undefined,
        jobDiskGiB: JOB_DISK_GIB,
        standingMounts: extras.standingMounts,
        rootfs: vmRootfs(config),
        snapshots: config.vmSnapshots ? new SnapshotPool({ dir: join(config.stateDir, "snapshots"), jobDiskGiB: JOB_DISK_GIB, buildOnMiss: true }) : undefined,
        warmPool: config.vmWarmPool ? { classes: warmClasses(config), schedule: parseWarmSchedule(config.vmWarmSchedule, "NIMBUS_VM_WARM_SCHEDULE") } : undefined,
      });
    }
  }
}

/**
 * The warm pool's classes; a `SIZE+docker` class needs an active image that carries Docker (the ci
 * image), or its VMs could never start their daemon: the agent refuses to start, naming the key.
 */
function warmClasses(config: AgentConfig) {
  const classes = parseWarmClasses(config.vmWarmPool, "NIMBUS_VM_WARM_POOL");
  const docker = classes.filter((c) => c.docker).map(warmClassName);
  if (docker.length && !new ImageStore(config.imagesDir).activeServesDocker())
    throw new AppError("validation_failed", `NIMBUS_VM_WARM_POOL: ${docker.join(", ")}: a +docker class needs an active image that carries Docker (the ci image: nimbus images build ci --activate)`, { field: "NIMBUS_VM_WARM_POOL" });
  return classes;
}

/** Sandbox jobs with a network get namespaces of their own on the agent's bridge: that needs root and a VM network. */
function sandboxNetwork(config: AgentConfig, network: HostNetwork | undefined): { network?: JobNamespaces; noNetworkReason?: string } {
  if (!network) return { noNetworkReason: `jobs with a network need NIMBUS_VM_NETWORK=nat or offline (it is ${config.vmNetwork}) and an agent running as root, which gives each its own network namespace` };
  if (process.getuid?.() !== 0) return { noNetworkReason: "jobs with a network get a network namespace of their own, and making one needs an agent running as root" };
  return { network: new JobNamespaces(network) };
}

export interface AgentDrivers {
  byIsolation: Map<Isolation, Driver>;
  /** The bridge of microVMs and sandbox jobs with a network, when there is one. */
  network?: HostNetwork;
}

/** `agentId` scopes what each driver lists and destroys on a shared host. */
export function driversFor(config: AgentConfig, agentId: string, extras: DriverExtras = {}): AgentDrivers {
  // MicroVMs and sandbox jobs with a network (GitHub runners) both sit on the agent's bridge.
  const network = config.drivers.some((d) => ISOLATION_OF[d] === "vm" || d === "sandbox") ? vmNetworkFor(config) : undefined;
  return { byIsolation: new Map(config.drivers.map((name) => [ISOLATION_OF[name], make(name, config, agentId, network, extras)])), network };
}
