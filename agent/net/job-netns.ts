/**
 * A network namespace of its own for each sandbox job that needs a network: a veth pair whose host
 * end sits on the VM bridge (an isolated port, like a tap) and whose other end is the namespace's
 * eth0, addressed from the same SQLite leases as the microVMs. The bridge's nftables policy applies
 * as to a VM: the metadata address and host ports other than the allowed ones are refused. The job
 * never sees the host's network namespace, so not the host's loopback services either.
 *
 * The lease is recorded before anything is created, so a crash leaks nothing the next start cannot
 * find (`namespaces()` lists them for the sandbox driver's `list()`). Every step is idempotent.
 */
import { existsSync } from "node:fs";
import { createLogger } from "../../src/core/log.ts";
import { guestIp, macFor, maxHost } from "../../src/vm/subnet.ts";
import { netnsName, VETH_PREFIX, vethName } from "./addr.ts";
import { HostNet } from "./host.ts";
import type { HostNetwork } from "./network.ts";
import type { JobNetnsAttachment, JobNetworks } from "./types.ts";

const log = createLogger("sandbox-net");

/** Namespaces are named files under /run/netns, whatever namespace the bridge lives in. */
const netnsExists = (ns: string) => existsSync(`/run/netns/${ns}`);

export class JobNamespaces implements JobNetworks {
  /** `ip netns add/del` and `ip -n` run in the agent's own namespaces (a bind mount made inside `ip netns exec` would not be seen outside it). */
  private readonly global = new HostNet();

  constructor(private readonly net: HostNetwork) {}

  async attachNamespace(name: string): Promise<JobNetnsAttachment> {
    await this.net.ensureSetup();
    const lease = this.net.store.lease(name, vethName(name), maxHost(this.net.subnet), (h) => macFor(this.net.subnet, h));
    const ns = netnsName(name);
    const ip = `${guestIp(this.net.subnet, lease.host)}/${this.net.subnet.prefix}`;
    if (!netnsExists(ns)) await this.global.must(["ip", "netns", "add", ns]);
    // Half made (the veth without its peer cannot be: deleting the namespace deletes both ends).
    // Before the veth joins the bridge: it may send from its own address only (agent/net/guard.ts).
    await this.net.guard(lease.tap, ip);
    if (!(await this.net.host.linkExists(lease.tap))) await this.net.host.must(["ip", "link", "add", lease.tap, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    await this.net.host.must(["ip", "link", "set", lease.tap, "master", this.net.bridge]);
    await this.net.host.must(["ip", "link", "set", "dev", lease.tap, "type", "bridge_slave", "isolated", "on"]);
    await this.net.host.must(["ip", "link", "set", lease.tap, "up"]);
    const inside = (...argv: string[]) => this.global.must(["ip", "-n", ns, ...argv]);
    await inside("link", "set", "lo", "up");
    await inside("addr", "replace", ip, "dev", "eth0");
    await inside("link", "set", "eth0", "up");
    await inside("route", "replace", "default", "via", this.net.gateway);
    log.debug("sandbox namespace attached", { name, netns: ns, veth: lease.tap, ip });
    return { netns: ns, veth: lease.tap, ip, gateway: this.net.gateway, dns: this.net.dns };
  }

  async detachNamespace(name: string): Promise<void> {
    const ns = netnsName(name);
    const lease = this.net.store.get(name);
    if (!lease && !netnsExists(ns)) return; // the lease is written first: without it nothing was made
    const veth = lease?.tap ?? vethName(name);
    // Two destroys of one instance may race (a run's cleanup, a cancel): gone is what we want.
    await this.net.host.deleteLink(veth).catch(async (e) => { if (await this.net.host.linkExists(veth)) throw e; });
    if (netnsExists(ns)) await this.global.must(["ip", "netns", "del", ns]).catch((e) => { if (netnsExists(ns)) throw e; });
    if (lease) await this.net.unguard(lease.tap, guestIp(this.net.subnet, lease.host));
    this.net.store.release(name);
  }

  namespaces(): string[] {
    return this.net.store.all().filter((l) => l.tap.startsWith(VETH_PREFIX)).map((l) => l.name);
  }
}
