/**
 * `nimbus doctor`'s checks: what a host needs to run Nimbus's services and agents, each judged from
 * what a `HostProbe` reads off the host (src/cli/doctor/probe.ts is the real one), so the verdicts
 * and their fixes are tested without the host's own state. A check passes, warns (Nimbus runs, but
 * worse or without a feature) or fails (something that needs it will not start), and names what
 * needs it and how to fix it.
 */
export type Verdict = "pass" | "warn" | "fail";

export interface CheckResult {
  id: string;
  verdict: Verdict;
  /** What was found, in words. */
  detail: string;
  /** What needs it. */
  neededBy: string;
  /** How to fix it (warn and fail only). */
  fix?: string;
}

/** What the checks read off the host. */
export interface HostProbe {
  /** Whether the path exists, and whether this process may read and write it. */
  access(path: string): { exists: boolean; readWrite: boolean };
  exists(path: string): boolean;
  /** A command's first line of `--version` output, or null when it cannot be run. */
  version(argv: string[]): Promise<string | null>;
  cpuFlags(): Set<string>;
  kernelRelease(): string;
  isRoot(): boolean;
  /** Free bytes on the filesystem that holds `path` (or its nearest existing parent). */
  freeBytes(path: string): number;
  /** Whether a TCP port can be bound on the loopback address. */
  portFree(port: number): Promise<boolean>;
  /** NATS's monitoring endpoint: whether JetStream is healthy, and the server's clock (ms) read halfway through the call. */
  nats(monitorUrl: string): Promise<{ healthy: boolean; serverNowMs: number | null; localMidMs: number; error?: string }>;
}

export interface DoctorInput {
  dataDir: string;
  /** Ports `nimbus up` would use (control, logs, NATS, its monitor, cache, registry). */
  ports: Record<string, number>;
  /** A stack of this data dir is running (its ports are taken by it, not by something else). */
  stackRunning: boolean;
  /** NATS's monitoring URL, when known (the running stack's, or --nats-monitor). */
  natsMonitorUrl?: string;
}

const GiB = 1024 ** 3;
/** Below this, image builds and job disks run out (a ci image is ~2 GiB, each job's disk is sparse). */
export const DISK_WARN_BYTES = 20 * GiB;
export const DISK_FAIL_BYTES = 5 * GiB;
/** Leases and timeouts are judged on the agents' clocks against NATS's: more skew than this shortens or lengthens them visibly. */
export const SKEW_WARN_MS = 1000;
export const MIN_KERNEL: [number, number] = [5, 10];

const pass = (id: string, neededBy: string, detail: string): CheckResult => ({ id, verdict: "pass", detail, neededBy });
const bad = (verdict: Exclude<Verdict, "pass">, id: string, neededBy: string, detail: string, fix: string): CheckResult => ({ id, verdict, detail, neededBy, fix });

function kvm(p: HostProbe): CheckResult {
  const need = "fast microVMs (without it they run under software emulation)";
  const dev = p.access("/dev/kvm");
  if (!dev.exists) return bad("warn", "kvm", need, "no /dev/kvm: VMs will run under software emulation (TCG), many times slower", "enable virtualisation in the firmware (or nested virtualisation on a cloud VM) and load kvm_intel or kvm_amd");
  if (!dev.readWrite) return bad("warn", "kvm", need, "/dev/kvm is not readable and writable by this user", "run the agent as root, or add its user to the kvm group");
  const flags = p.cpuFlags();
  if (!flags.has("vmx") && !flags.has("svm"))
    return bad("warn", "kvm", need, "/dev/kvm opens, but the CPU shows no vmx or svm flag: nested virtualisation is likely incomplete, and the agent's probe boot will fall back to software emulation", "enable nested virtualisation for this VM (or run agents on bare metal); the agent logs its verdict as \"kvm probe\"");
  return pass("kvm", need, "/dev/kvm is usable (the agent confirms it with a probe boot at start)");
}

function tun(p: HostProbe): CheckResult {
  const need = "microVM networking, NIMBUS_VM_NETWORK=nat or offline";
  return p.exists("/dev/net/tun") ? pass("tun", need, "/dev/net/tun exists") : bad("fail", "tun", need, "no /dev/net/tun", "modprobe tun (and make it load at boot)");
}

async function tool(p: HostProbe, id: string, argv: string[], need: string, verdict: "warn" | "fail", fix: string): Promise<CheckResult> {
  const v = await p.version(argv);
  return v ? pass(id, need, v) : bad(verdict, id, need, `${argv[0]} cannot be run`, fix);
}

function cgroupV2(p: HostProbe): CheckResult {
  const need = "the firecracker jailer's per-VM limits, NIMBUS_FIRECRACKER_CGROUPS";
  if (p.exists("/sys/fs/cgroup/cgroup.controllers")) return pass("cgroup-v2", need, "the unified cgroup v2 hierarchy is mounted at /sys/fs/cgroup");
  if (p.exists("/sys/fs/cgroup/unified/cgroup.controllers"))
    return bad("warn", "cgroup-v2", need, "a hybrid hierarchy: cgroup v2 only at /sys/fs/cgroup/unified, controllers stay on v1", "boot with systemd.unified_cgroup_hierarchy=1 (the default on Debian 11 and later)");
  return bad("warn", "cgroup-v2", need, "no cgroup v2 hierarchy", "boot with systemd.unified_cgroup_hierarchy=1 (the default on Debian 11 and later)");
}

function kernel(p: HostProbe): CheckResult {
  const need = "agents: nftables, bubblewrap's namespaces, virtio devices";
  const r = p.kernelRelease();
  const m = /^(\d+)\.(\d+)/.exec(r);
  const [maj, min] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (maj > MIN_KERNEL[0] || (maj === MIN_KERNEL[0] && min >= MIN_KERNEL[1])) return pass("kernel", need, `Linux ${r}`);
  return bad("warn", "kernel", need, `Linux ${r || "(unknown)"}, older than ${MIN_KERNEL.join(".")}`, `run a kernel of ${MIN_KERNEL.join(".")} or later (Debian 11's is 5.10)`);
}

function disk(p: HostProbe, dataDir: string): CheckResult {
  const need = "the data dir: images, job disks, logs, cache, registry";
  const free = p.freeBytes(dataDir);
  const text = `${(free / GiB).toFixed(1)} GiB free for ${dataDir}`;
  if (free >= DISK_WARN_BYTES) return pass("disk", need, text);
  const fix = "free space there, or point --data-dir (NIMBUS_DATA_DIR) at a larger disk";
  return free >= DISK_FAIL_BYTES ? bad("warn", "disk", need, `only ${text}`, fix) : bad("fail", "disk", need, `only ${text}`, fix);
}

async function ports(p: HostProbe, input: DoctorInput): Promise<CheckResult> {
  const need = "nimbus up";
  const list = Object.entries(input.ports);
  if (input.stackRunning) return pass("ports", need, `${list.map(([, n]) => n).join(", ")}: in use by this data dir's running stack`);
  const taken = [];
  for (const [name, port] of list) if (!(await p.portFree(port))) taken.push(`${port} (${name})`);
  if (taken.length === 0) return pass("ports", need, `${list.map(([, n]) => n).join(", ")} are free`);
  return bad("fail", "ports", need, `in use by something else: ${taken.join(", ")}`, "stop what holds them, or choose other ports with nimbus up --port-base N");
}

async function nats(p: HostProbe, input: DoctorInput): Promise<CheckResult[]> {
  const need = "every service and agent";
  if (!input.natsMonitorUrl)
    return [bad("warn", "nats", need, "no NATS to ask: no stack runs in this data dir and no --nats-monitor was given", "start the stack (nimbus up), or pass --nats-monitor URL (the server's http monitoring port) on a fleet host")];
  const n = await p.nats(input.natsMonitorUrl);
  if (!n.healthy) return [bad("fail", "nats", need, `NATS at ${input.natsMonitorUrl} is not healthy with JetStream${n.error ? `: ${n.error}` : ""}`, "start nats-server with JetStream enabled (nimbus up does), and check the address and firewall")];
  const out = [pass("nats", need, `NATS at ${input.natsMonitorUrl} is healthy, JetStream enabled`)];
  if (n.serverNowMs === null) out.push(bad("warn", "clock", "leases and timeouts", "NATS did not say its time", "check the server's /varz"));
  else {
    const skew = n.localMidMs - n.serverNowMs;
    const text = `this host's clock is ${Math.abs(skew)} ms ${skew >= 0 ? "ahead of" : "behind"} NATS's`;
    out.push(Math.abs(skew) <= SKEW_WARN_MS ? pass("clock", "leases and timeouts", text) : bad("warn", "clock", "leases and timeouts", text, "run NTP (systemd-timesyncd or chrony) on every host"));
  }
  return out;
}

/** Every check, in a fixed order. */
export async function runChecks(p: HostProbe, input: DoctorInput): Promise<CheckResult[]> {
  const nftNeed = "microVM networking: egress policy and NAT";
  return [
    kvm(p),
    tun(p),
    await tool(p, "nftables", ["nft", "--version"], nftNeed, "fail", p.isRoot() ? "apt-get install nftables" : "apt-get install nftables, as root (agents that run VMs run as root)"),
    await tool(p, "bubblewrap", ["bwrap", "--version"], "sandbox agents", "fail", "apt-get install bubblewrap"),
    await tool(p, "qemu", ["qemu-system-x86_64", "--version"], "microVM agents with the qemu driver", "warn", "apt-get install qemu-system-x86"),
    await tool(p, "mmdebstrap", ["mmdebstrap", "--version"], "nimbus images build ci (and nimbus up --vm, which builds it)", "warn", "apt-get install mmdebstrap"),
    await tool(p, "firecracker", ["firecracker", "--version"], "microVM agents with the firecracker driver; optional, qemu serves the same jobs", "warn", "install a firecracker release binary on PATH, or use the qemu driver"),
    cgroupV2(p),
    kernel(p),
    disk(p, input.dataDir),
    ...(await nats(p, input)),
    await ports(p, input),
  ];
}

/** The exit code: 1 when any check failed. */
export const exitCodeOf = (results: CheckResult[]) => (results.some((r) => r.verdict === "fail") ? 1 : 0);
