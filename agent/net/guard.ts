/**
 * Anti-spoofing on the VM bridge, as one nftables table of the bridge family: a frame entering the
 * bridge from a guest port of this bridge (a VM's tap, a sandbox job's veth: every port a lease
 * names) must carry, in its IPv4 source or its ARP sender address, the address that port's lease
 * gave it; anything else is dropped before the bridge or the host sees it. The bridge family's hook
 * sees every bridge of the host, and other agents' bridges have tables of their own, so the rules
 * match this bridge's ports only (the `ports` set: the kernels here have no `meta ibrname`). So a guest cannot pass for another (the results-host gateway tells
 * VMs apart by source address), and cannot claim another's address over ARP. The set of
 * (port, address) pairs is rebuilt from the leases whenever the table is replaced, and kept up to
 * date element by element as guests come and go.
 */
export function guardTableName(bridge: string): string {
  return `nimbus_guard_${bridge.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

export interface GuardedPort {
  port: string;
  /** IPv4 address, no prefix length. */
  ip: string;
}

const PORT = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function element(g: GuardedPort): string {
  if (!PORT.test(g.port) || !IPV4.test(g.ip)) throw new Error(`not a port and an address: ${g.port} ${g.ip}`);
  return `"${g.port}" . ${g.ip}`;
}

export function guardRuleset(bridge: string, guests: GuardedPort[]): string {
  const t = guardTableName(bridge);
  const elements = guests.length ? `\n    elements = { ${guests.map(element).join(", ")} }` : "";
  const ports = guests.length ? `\n    elements = { ${[...new Set(guests.map((g) => `"${g.port}"`))].join(", ")} }` : "";
  return `add table bridge ${t}
delete table bridge ${t}
table bridge ${t} {
  set ports {
    type ifname${ports}
  }
  set guests {
    type ifname . ipv4_addr${elements}
  }
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
    iifname @ports ether type ip iifname . ip saddr != @guests drop
    iifname @ports ether type arp iifname . arp saddr ip != @guests drop
  }
}
`;
}

/** `nft -f` input adding one guest port and its pair (adding what is there already is fine). */
export function guardAdd(bridge: string, g: GuardedPort): string {
  const t = guardTableName(bridge);
  return `add element bridge ${t} guests { ${element(g)} }\nadd element bridge ${t} ports { "${g.port}" }\n`;
}

/** `nft` commands removing one guest port and its pair, one by one (either may be gone already). */
export function guardDelete(bridge: string, g: GuardedPort): string[][] {
  const t = guardTableName(bridge);
  return [["nft", "delete", "element", "bridge", t, "guests", `{ ${element(g)} }`], ["nft", "delete", "element", "bridge", t, "ports", `{ "${g.port}" }`]];
}

export function deleteGuardRuleset(bridge: string): string {
  const t = guardTableName(bridge);
  return `add table bridge ${t}\ndelete table bridge ${t}\n`;
}
