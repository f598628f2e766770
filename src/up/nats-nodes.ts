/**
 * The nats-server nodes `nimbus up` runs: one, or a JetStream cluster of 3 or 5 on this host (to try a
 * fleet's NATS and to test failover). Pure: ports, names and each node's config text.
 *
 * Ports for base N: node 1 keeps N+2 (clients) and N+3 (monitoring), its route port is N+6; node i ≥ 2
 * takes N+3i+1 (clients), N+3i+2 (monitoring), N+3i+3 (routes).
 */
import { join } from "node:path";

export const CLUSTER_SIZES = [1, 3, 5] as const;

export interface NatsNode {
  /** The supervisor's child name: `nats` for node 1 (as on a single node), `nats-2`, `nats-3`, … */
  child: string;
  /** The server name (unique in the cluster): `n1`, `n2`, … */
  server: string;
  client: number;
  monitor: number;
  route: number;
  storeDir: string;
}

export function natsNodes(base: number, size: number, dataDir: string): NatsNode[] {
  if (!(CLUSTER_SIZES as readonly number[]).includes(size)) throw new Error(`a NATS cluster here has 1, 3 or 5 nodes (got ${size})`);
  return Array.from({ length: size }, (_, k) => {
    const i = k + 1;
    const [client, monitor, route] = i === 1 ? [base + 2, base + 3, base + 6] : [base + 3 * i + 1, base + 3 * i + 2, base + 3 * i + 3];
    // A single node keeps its store where it always was; cluster nodes each have their own.
    return { child: i === 1 ? "nats" : `nats-${i}`, server: `n${i}`, client, monitor, route, storeDir: size === 1 ? join(dataDir, "nats") : join(dataDir, "nats", `n${i}`) };
  });
}

/** How many ports after the base a stack of this cluster size uses (for finding a free range). */
export const portSpan = (size: number) => (size === 1 ? 6 : 3 * size + 4);

export const isNatsChild = (name: string) => /^nats(-\d+)?$/.test(name);

export interface ClusterAuth {
  /** The cluster's name (every node's). */
  name: string;
  /** Route credentials: a server that does not know them cannot join the cluster. */
  user: string;
  password: string;
}

/** One node's nats-server config; `auth` is its authorization (a users block, or operator-mode trust): written 0600, never on a command line. */
export function nodeConfig(host: string, node: NatsNode, all: NatsNode[], auth: string, cluster?: ClusterAuth): string {
  const q = JSON.stringify;
  const lines = [`server_name: ${q(node.server)}`, `listen: "${host}:${node.client}"`, `http: "${host}:${node.monitor}"`, `jetstream { store_dir: ${q(node.storeDir)} }`];
  if (cluster && all.length > 1) {
    const cred = `${encodeURIComponent(cluster.user)}:${encodeURIComponent(cluster.password)}`;
    const routes = all.filter((n) => n !== node).map((n) => q(`nats-route://${cred}@${host}:${n.route}`));
    lines.push(
      `cluster {\n  name: ${q(cluster.name)}\n  listen: "${host}:${node.route}"\n  authorization { user: ${q(cluster.user)}, password: ${q(cluster.password)} }\n  routes: [${routes.join(", ")}]\n}`,
    );
  }
  return `${lines.join("\n")}\n${auth}`;
}
