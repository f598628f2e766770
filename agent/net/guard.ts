/**
 * Anti-spoofing on the VM bridge, as one nftables table of the bridge family: a frame entering the
 * bridge from a Nimbus guest port (a VM's tap, a sandbox job's veth) must carry, in its IPv4 source
 * or its ARP sender address, the address that port's lease gave it; anything else is dropped before
 * the bridge or the host sees it. So a guest cannot pass for another (the results-host gateway tells
 * VMs apart by source address), and cannot claim another's address over ARP. The set of
 * (port, address) pairs is rebuilt from the leases whenever the table is replaced, and kept up to
 * date element by element as guests come and go.
 */
import { TAP_PREFIX, VETH_PREFIX } from "./addr.ts";

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
  const rules = [TAP_PREFIX, VETH_PREFIX].flatMap((p) => [
    `    iifname "${p}*" ether type ip iifname . ip saddr != @guests drop`,
    `    iifname "${p}*" ether type arp iifname . arp saddr ip != @guests drop`,
  ]);
  return `add table bridge ${t}
delete table bridge ${t}
table bridge ${t} {
  set guests {
    type ifname . ipv4_addr${elements}
  }
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
${rules.join("\n")}
  }
}
`;
}

/** `nft` arguments adding (or removing) one guest port's pair. */
export function guardElement(op: "add" | "delete", bridge: string, g: GuardedPort): string[] {
  return ["nft", op, "element", "bridge", guardTableName(bridge), "guests", `{ ${element(g)} }`];
}

export function deleteGuardRuleset(bridge: string): string {
  const t = guardTableName(bridge);
  return `add table bridge ${t}\ndelete table bridge ${t}\n`;
}
