/**
 * The egress policy of a VM bridge, as one nftables table replaced atomically:
 *  - input (to the host itself, any of its addresses): only the allowed host ports on the gateway
 *    address (the Nimbus cache, registry, log endpoints); the host's admin and NATS ports and
 *    everything else are refused;
 *  - redirects: guest TCP to the gateway address at one port is redirected to another port there
 *    (the results gateway: 443 -> the port it listens on); only redirected connections reach that
 *    port, a guest dialling it directly is refused like any other host port;
 *  - forward (beyond the host): the cloud metadata address and denied ranges are refused; online,
 *    everything else is allowed and masqueraded; offline, only the allow-list;
 *  - nothing unsolicited reaches guests; guests do not reach each other (isolated bridge ports).
 */
export interface Endpoint {
  /** Address or CIDR. */
  ip: string;
  port?: number;
  proto?: "tcp" | "udp";
}

export interface EgressPolicy {
  /** Ports on the gateway address guests may reach (the host's Nimbus services). */
  hostPorts: { port: number; proto?: "tcp" | "udp" }[];
  /** Guest TCP to `port` on the gateway address goes to `to` there (only via the redirect). */
  redirects?: { port: number; to: number }[];
  /** Offline mode: beyond the host, only `allow` is reachable. */
  offline?: boolean;
  allow?: Endpoint[];
  /** Always refused beyond the host, in addition to the metadata address. */
  deny?: string[];
}

export const METADATA_IP = "169.254.169.254";

export function tableName(bridge: string): string {
  return `nimbus_${bridge.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

function match(e: Endpoint): string {
  const port = e.port ? ` ${e.proto ?? "tcp"} dport ${e.port}` : e.proto ? ` meta l4proto ${e.proto}` : "";
  return `ip daddr ${e.ip}${port}`;
}

const REFUSE = "meta l4proto tcp reject with tcp reset\n    reject with icmpx admin-prohibited";

export function egressRuleset(bridge: string, subnetCidr: string, gateway: string, p: EgressPolicy): string {
  const t = tableName(bridge);
  const br = `iifname "${bridge}"`;
  const hostAllow = p.hostPorts.map((h) => `    ${br} ip daddr ${gateway} ${h.proto ?? "tcp"} dport ${h.port} accept`);
  const redirected = (p.redirects ?? []).map((r) => `    ${br} ip daddr ${gateway} tcp dport ${r.to} ct original proto-dst ${r.port} accept`);
  const redirect = (p.redirects ?? []).map((r) => `    ${br} ip daddr ${gateway} tcp dport ${r.port} redirect to :${r.to}`);
  const deny = [METADATA_IP, ...(p.deny ?? [])].map((d) => `    ${br} ip daddr ${d} jump refuse`);
  const beyond = p.offline ? [...(p.allow ?? []).map((e) => `    ${br} ${match(e)} accept`), `    ${br} jump refuse`] : [`    ${br} accept`];
  return `add table inet ${t}
delete table inet ${t}
table inet ${t} {
  chain refuse {
    ${REFUSE}
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ${br} ct state established,related accept
${[...hostAllow, ...redirected].join("\n")}
    ${br} jump refuse
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    oifname "${bridge}" ct state established,related accept
${deny.join("\n")}
${beyond.join("\n")}
    oifname "${bridge}" jump refuse
  }
${redirect.length ? `  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${redirect.join("\n")}
  }
` : ""}  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    ip saddr ${subnetCidr} oifname != "${bridge}" masquerade
  }
}
`;
}

export function deleteRuleset(bridge: string): string {
  const t = tableName(bridge);
  return `add table inet ${t}\ndelete table inet ${t}\n`;
}
