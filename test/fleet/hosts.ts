/**
 * Hosts for the fleet acceptance test: network namespaces on one bridge (its own namespace, so nothing
 * touches this machine's own interfaces), each with an address on a private test subnet, and
 * processes started inside them with their output in a log file.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export interface Host {
  ns: string;
  ip: string;
}

async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["sh", "-ec", script], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`${script.split("\n")[0]}: ${await new Response(p.stderr).text()}`);
}

export class Lan {
  readonly tag = Math.random().toString(36).slice(2, 7);
  readonly lanNs = `nmbf-l-${this.tag}`;
  readonly hosts: Host[] = [];
  private readonly procs = new Set<ReturnType<typeof Bun.spawn>>();

  constructor(private readonly logDir: string, private readonly subnet = "10.77.0") {
    mkdirSync(logDir, { recursive: true });
  }

  async create(names: string[]): Promise<Host[]> {
    await sh(`ip netns add ${this.lanNs}; ip -n ${this.lanNs} link set lo up
ip -n ${this.lanNs} link add br0 type bridge; ip -n ${this.lanNs} link set br0 up`);
    for (const [i, name] of names.entries()) {
      const h = { ns: `nmbf-${name}-${this.tag}`, ip: `${this.subnet}.${i + 1}` };
      await sh(`ip netns add ${h.ns}; ip -n ${h.ns} link set lo up
ip link add v${i}${this.tag} netns ${this.lanNs} type veth peer name eth0 netns ${h.ns}
ip -n ${this.lanNs} link set v${i}${this.tag} master br0; ip -n ${this.lanNs} link set v${i}${this.tag} up
ip -n ${h.ns} addr add ${h.ip}/24 dev eth0; ip -n ${h.ns} link set eth0 up`);
      this.hosts.push(h);
    }
    return this.hosts;
  }

  /** This process's own namespace on the bridge too, at .254, so the test reaches the hosts (they are its own). */
  async attachSelf(): Promise<string> {
    const ip = `${this.subnet}.254`;
    await sh(`ip link add s${this.tag} type veth peer name sl${this.tag} netns ${this.lanNs}
ip -n ${this.lanNs} link set sl${this.tag} master br0; ip -n ${this.lanNs} link set sl${this.tag} up
ip addr add ${ip}/24 dev s${this.tag}; ip link set s${this.tag} up`);
    return ip;
  }

  /** Start `argv` inside `host`, output appended to `<logDir>/<name>.log`; in its own session, so a kill reaches it alone. */
  spawn(host: Host, name: string, argv: string[], env: Record<string, string> = {}, cwd?: string): ReturnType<typeof Bun.spawn> {
    const log = Bun.file(join(this.logDir, `${name}.log`));
    const p = Bun.spawn(["ip", "netns", "exec", host.ns, "setsid", ...argv], { cwd, env: { ...process.env, ...env }, stdin: "ignore", stdout: log, stderr: log });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  /** Run a command inside `host`; its stdout. */
  async run(host: Host, argv: string[]): Promise<string> {
    const p = Bun.spawn(["ip", "netns", "exec", host.ns, ...argv], { stdout: "pipe", stderr: "ignore" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    return out;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) p.kill("SIGKILL");
    await Promise.all([...this.procs].map((p) => p.exited));
    for (const h of this.hosts) {
      // Whatever a killed process left in the namespace goes with it.
      const pids = await new Response(Bun.spawn(["ip", "netns", "pids", h.ns], { stdout: "pipe" }).stdout).text();
      for (const pid of pids.split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone already
        }
      }
      await sh(`ip netns del ${h.ns}`).catch(() => undefined);
    }
    await sh(`ip netns del ${this.lanNs}`).catch(() => undefined);
  }
}
