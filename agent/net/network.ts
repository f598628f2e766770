/**
 * The VM network of one agent: a bridge with the gateway address, a tap per instance, addresses
 * leased in SQLite, and the egress policy. Implements what the microVM drivers need (VmNetwork).
 */
import { createLogger } from "../../src/core/log.ts";
import { cidrOf, gatewayOf, guestIp, macFor, maxHost, parseCidr, type Subnet } from "../../src/vm/subnet.ts";
import { TAP_PREFIX, tapName } from "./addr.ts";
import { HostNet } from "./host.ts";
import { deleteRuleset, egressRuleset, tableName, type EgressPolicy } from "./policy.ts";
import { NetStore } from "./store.ts";
import { deleteGuardRuleset, guardAdd, guardDelete, guardRuleset, guardTableName } from "./guard.ts";
import type { VmNetAttachment, VmNetwork } from "./types.ts";

const log = createLogger("vm-net");

export interface HostNetworkOptions {
  /** SQLite file for leases. */
  dbPath: string;
  bridge?: string;
  /** Guest subnet; the gateway is its first address. Default 10.88.0.0/24. */
  subnet?: string;
  policy: EgressPolicy;
  /** Resolver handed to guests. */
  dns?: string;
  /** Run everything inside this network namespace (tests). */
  netns?: string;
  /** Owner of the taps (the VMM's uid when it does not run as root). */
  tapUser?: number;
}

export class HostNetwork implements VmNetwork {
  readonly bridge: string;
  readonly subnet: Subnet;
  readonly host: HostNet;
  readonly store: NetStore;
  private ready?: Promise<void>;
  /** The policy in force (setup without one re-applies it). */
  private policy: EgressPolicy;

  constructor(private readonly opts: HostNetworkOptions) {
    this.policy = opts.policy;
    this.bridge = opts.bridge ?? "nimbus0";
    this.subnet = parseCidr(opts.subnet ?? "10.88.0.0/24");
    this.host = new HostNet(opts.netns);
    this.store = new NetStore(opts.dbPath);
  }

  get gateway(): string {
    return gatewayOf(this.subnet);
  }

  /** Resolver handed to guests and sandbox jobs. */
  get dns(): string | undefined {
    return this.opts.dns;
  }

  /** Bridge, addresses and policy; idempotent, and re-applying replaces the policy atomically. */
  async setup(policy: EgressPolicy = this.policy): Promise<void> {
    this.policy = policy;
    // What is not there yet is ours: recorded before it is created, so close() removes it (and only it).
    if (!(await this.host.linkExists(this.bridge))) this.store.own("bridge", this.bridge);
    await this.host.ensureBridge(this.bridge, `${this.gateway}/${this.subnet.prefix}`);
    if (!(await this.host.nftTableExists("inet", tableName(this.bridge)))) this.store.own("nft-table", tableName(this.bridge));
    if (!(await this.host.nftTableExists("bridge", guardTableName(this.bridge)))) this.store.own("nft-table", guardTableName(this.bridge));
    // One transaction: the policy, and the anti-spoofing table with every leased guest's pair.
    await this.host.applyNft(egressRuleset(this.bridge, cidrOf(this.subnet), this.gateway, policy) + guardRuleset(this.bridge, this.guarded()));
  }

  /** The (port, address) pair of every lease: what the anti-spoofing table lets in. */
  private guarded(): { port: string; ip: string }[] {
    return this.store.all().map((l) => ({ port: l.tap, ip: guestIp(this.subnet, l.host) }));
  }

  /** The guest on `port` may send from `ip` (and nothing else); idempotent. */
  async guard(port: string, ip: string): Promise<void> {
    await this.host.applyNft(guardAdd(this.bridge, { port, ip: ip.split("/")[0]! }));
  }

  /** Forget the guest on `port` (gone already is fine). */
  async unguard(port: string, ip: string): Promise<void> {
    for (const argv of guardDelete(this.bridge, { port, ip: ip.split("/")[0]! })) await this.host.run(argv);
  }

  /**
   * Guest TCP to `port` on the gateway address goes to `to` there, and only so (the results
   * gateway listens on `to`): the bridge is set up if it is not, and the policy re-applied.
   */
  async redirect(port: number, to: number): Promise<void> {
    await this.ensureSetup();
    const redirects = [...(this.policy.redirects ?? []).filter((r) => r.port !== port), { port, to }];
    await this.setup({ ...this.policy, redirects });
  }

  /** The bridge and policy, set up once (the first attach does it). */
  async ensureSetup(): Promise<void> {
    this.ready ??= this.setup();
    await this.ready;
  }

  async attach(name: string): Promise<VmNetAttachment> {
    await this.ensureSetup();
    const lease = this.store.lease(name, tapName(name), maxHost(this.subnet), (h) => macFor(this.subnet, h));
    const ip = guestIp(this.subnet, lease.host);
    // Before the tap joins the bridge: from its first frame, it may send from its own address only.
    await this.guard(lease.tap, ip);
    await this.host.ensureTap(lease.tap, this.bridge, this.opts.tapUser);
    log.debug("attached", { name, tap: lease.tap, host: lease.host });
    return { tap: lease.tap, mac: lease.mac, ip: `${ip}/${this.subnet.prefix}`, gateway: this.gateway, dns: this.opts.dns };
  }

  async detach(name: string): Promise<void> {
    const lease = this.store.get(name);
    await this.host.deleteLink(lease?.tap ?? tapName(name));
    if (lease) await this.unguard(lease.tap, guestIp(this.subnet, lease.host));
    this.store.release(name);
  }

  /** Taps bearing Nimbus's prefix that no lease knows (a crashed agent's), removed. */
  async reapUnknownTaps(): Promise<string[]> {
    const known = new Set(this.store.all().map((l) => l.tap));
    const stray = (await this.host.tapsWithPrefix(TAP_PREFIX)).filter((t) => !known.has(t));
    for (const t of stray) await this.host.deleteLink(t);
    return stray;
  }

  /**
   * On stop: removes the nftables table and the bridge if this agent created them (in this run or
   * one before it that crashed), never ones that existed before; then closes the store. Returns
   * what it removed.
   */
  async close(): Promise<string[]> {
    const removed: string[] = [];
    const table = tableName(this.bridge);
    if (this.store.owns("nft-table", table)) {
      await this.host.applyNft(deleteRuleset(this.bridge));
      this.store.disown("nft-table", table);
      removed.push(`nftables table inet ${table}`);
    }
    const guard = guardTableName(this.bridge);
    if (this.store.owns("nft-table", guard)) {
      await this.host.applyNft(deleteGuardRuleset(this.bridge));
      this.store.disown("nft-table", guard);
      removed.push(`nftables table bridge ${guard}`);
    }
    if (this.store.owns("bridge", this.bridge)) {
      await this.host.deleteLink(this.bridge);
      this.store.disown("bridge", this.bridge);
      removed.push(`bridge ${this.bridge}`);
    }
    this.ready = undefined;
    this.store.close();
    if (removed.length) log.info("removed what the agent created", { removed });
    return removed;
  }

  /** Removes the bridge and the policy whoever created them (the leases stay in SQLite for the reaper). */
  async teardown(): Promise<void> {
    await this.host.applyNft(deleteRuleset(this.bridge) + deleteGuardRuleset(this.bridge));
    await this.host.deleteLink(this.bridge);
    this.ready = undefined;
  }
}
