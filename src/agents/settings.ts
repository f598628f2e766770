/**
 * The host agent's settings: declared once, validated at the agent's start. They live below the apps
 * because the agent reads them and the CLI shows and checks them (`nimbus config`).
 */
import { ARTIFACTS_DIR } from "../core/binaries.ts";
import * as v from "valibot";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { leaseTtlMs, logsUrl, natsToken, natsUrl, natsUser, natsPassword, natsJwt, natsSeed } from "../core/config/common.ts";
import { bool, int, list, oneOf, optionalStr, secret, str, url, type ConfigOf, type SettingsSpec } from "../core/config/settings.ts";
import { DEFAULT_ASSETS_DIR } from "../vm/assets.ts";
import { DEFAULT_VM_SUBNET } from "../vm/subnet.ts";
import { parseWarmClasses, parseWarmSchedule } from "./warm-schedule.ts";
import { orgRunningSetting } from "../jobs/limits/config.ts";
import { otelSettings } from "../core/trace/settings.ts";

/** Where built rootfs images live unless NIMBUS_IMAGES_DIR says otherwise. */
export const DEFAULT_IMAGES_DIR = join(ARTIFACTS_DIR, "images");

function parses(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

export const DRIVER_NAMES = ["sandbox", "qemu", "firecracker", "noop"] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export const agentSettings = {
  natsUrl,
  natsToken,
  natsUser,
  natsPassword,
  natsJwt,
  natsSeed,
  logsUrl,
  leaseTtlMs,
  orgMaxRunning: orgRunningSetting,
  agentId: {
    env: "NIMBUS_AGENT_ID",
    doc: "Stable id of this agent (empty: generated once and kept in the agent's state directory).",
    schema: optionalStr(),
    default: "",
  },
  controlUrl: {
    env: "NIMBUS_AGENT_CONTROL_URL",
    doc: "Control plane URL. Set, with no NIMBUS_NATS_USER or NIMBUS_NATS_JWT, the agent gets its NATS user from it (decentralized auth: a short-lived JWT bought with NIMBUS_AGENT_TOKEN and renewed at half its life). Empty: none.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  stateDir: { env: "NIMBUS_AGENT_DIR", doc: "Directory for the agent's SQLite state and per-job directories.", schema: str(), default: ".nimbus/agent" },
  token: { env: "NIMBUS_AGENT_TOKEN", doc: "Agent token (from `nimbus token mint --role agent --name AGENT_ID`, recorded in the token ledger; bound to that agent id) for the log service and the secrets handout.", schema: secret(20), secret: true },
  slots: { env: "NIMBUS_AGENT_SLOTS", doc: "Jobs this agent runs at once.", schema: int(1, 1024), default: "2" },
  labels: { env: "NIMBUS_AGENT_LABELS", doc: "Extra labels shown for this agent (informational).", schema: list(), default: "" },
  drivers: {
    env: "NIMBUS_AGENT_DRIVERS",
    doc: "Drivers this agent runs jobs with: `sandbox` (bubblewrap; serves isolation:sandbox), `qemu` (QEMU microVMs, KVM or software emulation; serves isolation:vm), `firecracker` (Firecracker microVMs, needs KVM; serves isolation:vm), `noop` (benchmarks only: runs nothing, exits 0; serves isolation:sandbox).",
    schema: v.pipe(
      list(),
      v.minLength(1, "must name at least one driver"),
      v.check((l) => l.every((d) => DRIVER_NAMES.includes(d as DriverName)), `must be a comma-separated list of ${DRIVER_NAMES.join(", ")}`),
      v.check((l) => !(l.includes("sandbox") && l.includes("noop")), "sandbox and noop both serve isolation:sandbox; pick one"),
      v.check((l) => !(l.includes("qemu") && l.includes("firecracker")), "qemu and firecracker both serve isolation:vm; pick one"),
      v.transform((l) => l as DriverName[]),
    ) as v.GenericSchema<string, DriverName[]>,
    default: "sandbox",
  },
  vmAssetsDir: {
    env: "NIMBUS_VM_ASSETS_DIR",
    doc: "Kernel, initramfs and rootfs for the qemu driver (manifest.json, built by `bun run scripts/vm/build-assets.ts`).",
    schema: str(),
    default: DEFAULT_ASSETS_DIR,
    defaultDoc: "artifacts/vm",
  },
  vmSnapshots: {
    env: "NIMBUS_VM_SNAPSHOTS",
    doc: "Restore microVMs from a snapshot per VM shape instead of booting them (a missing snapshot is built in the background; that job boots cold).",
    schema: bool(),
    default: "true",
  },
  vmWarmPool: {
    env: "NIMBUS_VM_WARM_POOL",
    doc: "MicroVMs kept booted ahead per class, as CLASS=MIN..MAX,… (e.g. 2c4g=1..3,4c16g=0..1). A class is a size class, or a size class +docker (e.g. 2c4g+docker=1..2) for `docker` jobs: those VMs start dockerd before they wait (needs the ci image; docs/vm.md). Empty: none.",
    schema: v.pipe(optionalStr(), v.check((t) => parses(() => parseWarmClasses(t)), "must look like 2c4g=1..3,4c16g=0..1 (a class may be SIZE+docker, e.g. 2c4g+docker=0..2)")),
    default: "",
  },
  vmWarmSchedule: {
    env: "NIMBUS_VM_WARM_SCHEDULE",
    doc: "Busy hours that raise a class's warm minimum, as CLASS DAYS HH:MM-HH:MM min=N; … (e.g. 2c4g mon-fri 08:00-18:00 min=3; 2c4g+docker * 09:00-17:00 min=1), in the agent's time zone.",
    schema: v.pipe(optionalStr(), v.check((t) => parses(() => parseWarmSchedule(t)), "must look like 2c4g mon-fri 08:00-18:00 min=3")),
    default: "",
  },
  imagesDir: {
    env: "NIMBUS_IMAGES_DIR",
    doc: "Root filesystem images: built and activated ones (`nimbus images build|activate|list`) and image:<ref> jobs' OCI images converted to ext4, cached by digest.",
    schema: str(),
    default: DEFAULT_IMAGES_DIR,
    defaultDoc: "artifacts/images",
  },
  imageInsecureRegistries: {
    env: "NIMBUS_IMAGE_INSECURE_REGISTRIES",
    doc: "Registries (host:port) that image:<ref> jobs pull from over plain HTTP.",
    schema: list(),
    default: "",
  },
  imageAuthFile: { env: "NIMBUS_IMAGE_AUTHFILE", doc: "skopeo auth file with credentials for private registries (empty: none).", schema: optionalStr(), default: "" },
  vmNetwork: {
    env: "NIMBUS_VM_NETWORK",
    doc: "Networking of microVMs and of sandbox jobs that need a network (GitHub runners): `none` (loopback only; sandbox jobs that need a network are refused), `nat` (a tap, or for a sandbox job a network namespace of its own with a veth, on the agent's bridge; egress NATed; the metadata address and host ports other than NIMBUS_VM_HOST_PORTS refused) or `offline` (like nat, but beyond the host only NIMBUS_VM_ALLOW). nat and offline need root.",
    schema: oneOf(["none", "nat", "offline"] as const),
    default: "none",
  },
  vmBridge: { env: "NIMBUS_VM_BRIDGE", doc: "Bridge of this agent's microVMs (one per agent on a host).", schema: str(), default: "nimbus0" },
  vmSubnet: {
    env: "NIMBUS_VM_SUBNET",
    doc: "Guest subnet; the bridge takes its first address, which guests reach the host's Nimbus services at.",
    schema: v.pipe(str(), v.regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-9])$/, "must be an IPv4 CIDR from /16 to /29")),
    default: DEFAULT_VM_SUBNET,
  },
  vmHostPorts: {
    env: "NIMBUS_VM_HOST_PORTS",
    doc: "Further ports on the bridge address that guests may reach (the cache's and the registry's ports are always allowed when NIMBUS_AGENT_CACHE_URL and NIMBUS_AGENT_REGISTRY_URL are set).",
    schema: v.pipe(list(), v.check((l) => l.every((p) => /^\d{1,5}$/.test(p) && Number(p) > 0 && Number(p) < 65536), "must be a list of ports"), v.transform((l) => l.map(Number))),
    default: "",
  },
  vmAllow: {
    env: "NIMBUS_VM_ALLOW",
    doc: "With NIMBUS_VM_NETWORK=offline: what guests may reach beyond the host, as IP, CIDR or IP:PORT.",
    schema: list(),
    default: "",
  },
  vmDns: { env: "NIMBUS_VM_DNS", doc: "Resolver address handed to guests (empty: none).", schema: optionalStr(), default: "" },
  vmNetns: {
    env: "NIMBUS_VM_NETNS",
    doc: "Run microVMs and their bridge inside this existing network namespace (empty: the agent's own).",
    schema: optionalStr(),
    default: "",
  },
  cacheUrl: {
    env: "NIMBUS_AGENT_CACHE_URL",
    doc: "The Actions cache service as the agent's host reaches it (e.g. http://127.0.0.1:7074). Jobs with a network get the cache environment pointing at its port on their gateway. Empty: jobs get no cache.",
    schema: optionalStr(),
    default: "",
  },
  resultsGateway: {
    env: "NIMBUS_AGENT_RESULTS_GATEWAY",
    doc: "Run the results-host gateway (docs/cache.md) when the agent has a microVM driver, a VM network and NIMBUS_AGENT_CACHE_URL: GitHub jobs' VMs resolve GitHub's results host names to it and trust its CA, so an unmodified actions/cache uses the Nimbus cache (the cache service needs NIMBUS_CACHE_TRUST_FORWARDED=true; `nimbus up` sets it).",
    schema: bool(),
    default: "true",
  },
  resultsGatewayPort: {
    env: "NIMBUS_AGENT_RESULTS_GATEWAY_PORT",
    doc: "Port the results-host gateway listens on at the bridge address (guests reach it as port 443 through a redirect, never directly); 0: any free port.",
    schema: int(0, 65535),
    default: "0",
  },
  resultsUpstreamUrl: {
    env: "NIMBUS_AGENT_RESULTS_UPSTREAM_URL",
    doc: "Where the results-host gateway sends calls that are not the Nimbus cache's (artifacts; every call of a VM with no cache binding). Empty: GitHub's own results host that the guest named.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  registryUrl: {
    env: "NIMBUS_AGENT_REGISTRY_URL",
    doc: "The registry as the agent's host reaches it (e.g. http://127.0.0.1:7075; `nimbus up` sets it). Jobs with a network (microVMs on the agent's bridge, GitHub runners) get a Docker config.json (DOCKER_CONFIG, REGISTRY_AUTH_FILE) holding their registry credential for its port on their gateway. Empty: jobs get no registry login.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  vmAccel: {
    env: "NIMBUS_VM_ACCEL",
    doc: "qemu acceleration: `auto` (KVM when a probe boot works, else software emulation), `kvm` or `tcg`.",
    schema: oneOf(["auto", "kvm", "tcg"] as const),
    default: "auto",
  },
  firecrackerBinary: { env: "NIMBUS_FIRECRACKER_BINARY", doc: "The firecracker executable (driver `firecracker`).", schema: str(), default: "firecracker" },
  firecrackerJailer: {
    env: "NIMBUS_FIRECRACKER_JAILER",
    doc: "Run Firecracker under its jailer as UID:GID (chroot per VM under NIMBUS_FIRECRACKER_CHROOT_BASE; empty: no jailer).",
    schema: v.pipe(optionalStr(), v.check((t) => t === "" || /^\d+:\d+$/.test(t), "must be UID:GID (numbers) or empty")),
    default: "",
  },
  firecrackerChrootBase: { env: "NIMBUS_FIRECRACKER_CHROOT_BASE", doc: "The jailer's chroot base directory.", schema: str(), default: "/srv/jailer" },
  firecrackerCgroups: { env: "NIMBUS_FIRECRACKER_CGROUPS", doc: "cgroup v2 limits the jailer applies to each VM, e.g. `memory.max=8589934592` (comma-separated).", schema: list(), default: "" },
  firecrackerJobConfig: {
    env: "NIMBUS_FIRECRACKER_JOB_CONFIG",
    doc: "How a Firecracker guest gets its job config: `disk` (a config disk, as under QEMU) or `mmds` (the metadata service, V2; needs NIMBUS_VM_NETWORK nat or offline; emptied once read).",
    schema: oneOf(["disk", "mmds"] as const),
    default: "disk",
  },

  vcpus: { env: "NIMBUS_AGENT_VCPUS", doc: "vCPUs this agent offers (decides the size classes it serves).", schema: int(1, 1024), default: String(Math.max(2, cpus().length)), defaultDoc: "the machine's CPUs (at least 2)" },
  memoryGb: {
    env: "NIMBUS_AGENT_MEMORY_GB",
    doc: "Memory in GB this agent offers.",
    schema: int(1, 65536),
    default: String(Math.max(4, Math.floor(totalmem() / 2 ** 30))),
    defaultDoc: "the machine's memory (at least 4)",
  },
  sandboxDir: {
    env: "NIMBUS_SANDBOX_DIR",
    doc: "Where sandbox workspaces live (per agent below it); every directory above must be traversable by the sandbox uid.",
    schema: str(),
    default: join(tmpdir(), "nimbus-sandboxes"),
    defaultDoc: "$TMPDIR/nimbus-sandboxes",
  },
  sandboxUid: { env: "NIMBUS_SANDBOX_UID", doc: "Unprivileged uid (and gid) sandboxed jobs run as.", schema: int(1, 2 ** 31), default: "65534" },
  forgeRunnerDir: {
    env: "NIMBUS_FORGE_RUNNER_DIR",
    doc: "Host directory mounted read-only at /forge-runner in Gitea/Forgejo jobs' sandboxes, holding the runner (empty: the image provides it).",
    schema: v.string() as v.GenericSchema<string, string>,
    default: "",
  },
  ...otelSettings,
} satisfies SettingsSpec;

export type AgentConfig = ConfigOf<typeof agentSettings>;
