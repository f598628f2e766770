/**
 * A small world of network namespaces for the egress tests, all on private test addresses:
 *   host  (the agent's host: VM bridge, policy, "Nimbus services" on 18080, admin 18081, NATS 14222,
 *          a results gateway stand-in on 18443)
 *   out   (stands in for everything beyond the host: 10.99.0.2:80 and :8080, and the metadata address)
 *   guest (a namespace plugged into the VM bridge like a VM, for cheap policy checks)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const OUT_IP = "10.99.0.2";
export const HOST_SERVICES = { cache: 18080, admin: 18081, nats: 14222, results: 18443 };

async function sh(script: string): Promise<string> {
  const p = Bun.spawn(["sh", "-ec", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${script}\n${err}`);
  return out;
}

export class NetWorld {
  readonly tag = Math.random().toString(36).slice(2, 7);
  readonly hostNs = `nmbt-h-${this.tag}`;
  readonly outNs = `nmbt-o-${this.tag}`;
  readonly guestNs = `nmbt-g-${this.tag}`;
  private readonly servers: ReturnType<typeof Bun.spawn>[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), "nimbus-networld-"));

  async create(): Promise<void> {
    const { hostNs: h, outNs: o } = this;
    await sh(`ip netns add ${h}; ip netns add ${o}
ip -n ${h} link set lo up; ip -n ${o} link set lo up
ip link add vh${this.tag} netns ${h} type veth peer name vo${this.tag} netns ${o}
ip -n ${h} addr add 10.99.0.1/24 dev vh${this.tag}; ip -n ${h} link set vh${this.tag} up
ip -n ${o} addr add ${OUT_IP}/24 dev vo${this.tag}; ip -n ${o} link set vo${this.tag} up
ip -n ${o} addr add 169.254.169.254/32 dev lo
ip -n ${h} route add default via ${OUT_IP}`);
    for (const [name, port] of [["out80", 80], ["out8080", 8080], ["metadata", 80]] as const)
      if (name !== "metadata") this.serve(o, port, name);
    for (const [name, port] of Object.entries(HOST_SERVICES)) this.serve(h, port, name);
  }

  /** busybox httpd answering GET /id with NAME (one server per port; metadata shares out:80's). */
  private serve(ns: string, port: number, name: string): void {
    const d = join(this.dir, `${ns}-${port}`);
    require("node:fs").mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "id"), `${name === "out80" ? "outside" : name}\n`);
    this.servers.push(Bun.spawn(["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", `${port}`, "-h", d], { stdout: "ignore", stderr: "ignore" }));
  }

  /** A namespace wired into the bridge like a guest, at ADDR/24 behind GATEWAY. */
  async plugGuest(bridge: string, addr: string, gateway: string): Promise<void> {
    const { hostNs: h, guestNs: g } = this;
    await sh(`ip netns add ${g}; ip -n ${g} link set lo up
ip link add gb${this.tag} netns ${h} type veth peer name eth0 netns ${g}
ip -n ${h} link set gb${this.tag} master ${bridge}; ip -n ${h} link set gb${this.tag} up
ip -n ${g} addr add ${addr}/24 dev eth0; ip -n ${g} link set eth0 up; ip -n ${g} route add default via ${gateway}`);
  }

  /** From the guest namespace: the body of GET /id at IP:PORT, or "refused". */
  async fetchFromGuest(ip: string, port: number): Promise<string> {
    const p = Bun.spawn(["ip", "netns", "exec", this.guestNs, "sh", "-c", `printf 'GET /id HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${ip} ${port}`], { stdout: "pipe", stderr: "ignore" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    return out.trim().split("\n").at(-1)?.trim() || "refused";
  }

  async destroy(): Promise<void> {
    for (const s of this.servers) s.kill("SIGKILL");
    await Promise.all(this.servers.map((s) => s.exited));
    for (const ns of [this.guestNs, this.hostNs, this.outNs]) await sh(`ip netns del ${ns} 2>/dev/null || true`);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The guest-side probe script (busybox sh): one line "IP:PORT -> BODY|refused" per target. */
export function probeScript(targets: string[]): string {
  return targets
    .map((t) => { const [ip, port] = t.split(":"); return `r=$(printf 'GET /id HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} ${port} 2>/dev/null | tail -n1); echo "${t} -> \${r:-refused}"`; })
    .join("\n");
}
