/**
 * The agent's results-host gateway (agent/results-gateway/): how the unmodified `actions/cache` in a
 * GitHub job's microVM reaches the Nimbus cache. One per agent process, started when the agent has
 * a VM network and a cache URL: it listens on the bridge's gateway address at a port of its own,
 * and the bridge policy redirects guest TCP to port 443 of that address there (and nothing else
 * reaches that port). Each GitHub job VM gets GitHub's results host names pointed at the gateway
 * address (its /etc/hosts) and the gateway's CA in its trust store (NODE_EXTRA_CA_CERTS for Node);
 * the job's VM address is bound to the job's cache runtime token while the VM lives.
 *
 * Identity is the VM's source address on the bridge: every VM sits on an isolated bridge port of
 * its own, and a guest's address is the one its lease gave it. Bindings are in memory only: a
 * restarted agent has none, so its VMs are forwarded to GitHub (fail-safe, never another job's
 * token).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../src/core/log.ts";
import { ensureGatewayCerts, RESULTS_HOSTS } from "../results-gateway/ca.ts";
import { startResultsGateway, type ResultsGateway } from "../results-gateway/gateway.ts";
import { GUEST_CA_PATH, type GuestExtras } from "../vm/run.ts";

/** What a GitHub job's VM is given so its results calls reach the gateway. */
export interface GuestResultsSetup {
  guest: GuestExtras;
  env: Record<string, string>;
}

/** The guest side, pure: the results host names at the gateway address, the CA trusted. */
export function guestResultsSetup(gatewayIp: string, caPem: string): GuestResultsSetup {
  return {
    guest: { hosts: RESULTS_HOSTS.map((name) => ({ ip: gatewayIp, name })), caPem },
    // Node ships its own roots: the runner's environment (which every action inherits) names the CA.
    env: { NODE_EXTRA_CA_CERTS: GUEST_CA_PATH },
  };
}

/**
 * Which VM address is bound to which job's token, and by whom: an unbind by a job that no longer
 * owns the address (its VM was destroyed and the address leased again) leaves the new binding.
 */
export class ResultsBindings {
  private readonly owners = new Map<string, string>();

  constructor(private readonly gateway: Pick<ResultsGateway, "bind" | "unbind">) {}

  bind(ip: string, token: string, owner: string): void {
    this.owners.set(ip, owner);
    this.gateway.bind(ip, token);
  }

  unbind(ip: string, owner: string): void {
    if (this.owners.get(ip) !== owner) return;
    this.owners.delete(ip);
    this.gateway.unbind(ip);
  }

  /** Bound addresses and their owners (for tests and diagnostics; no tokens). */
  bound(): Record<string, string> {
    return Object.fromEntries(this.owners);
  }
}

export interface AgentResultsGateway extends GuestResultsSetup {
  bindings: ResultsBindings;
  /** The port the gateway listens on (guests reach it as port 443 through the redirect). */
  port: number;
  stop(): Promise<void>;
}

export interface AgentResultsGatewayOptions {
  /** Where the CA and the server certificate are kept (made once). */
  dir: string;
  /** The bridge's gateway address: the gateway listens there. */
  gatewayIp: string;
  /** Port to listen on (0: any free one). */
  port: number;
  cacheUrl: string;
  /** GitHub's results service for calls that are not the Nimbus cache's (empty: the host the guest named). */
  upstreamUrl?: string;
  /** The bridge: guest TCP to 443 on the gateway address goes to `to`. */
  network: { ensureSetup(): Promise<void>; redirect(port: number, to: number): Promise<void> };
  log: Logger;
}

export async function startAgentResultsGateway(o: AgentResultsGatewayOptions): Promise<AgentResultsGateway> {
  const certs = await ensureGatewayCerts(o.dir);
  // The gateway listens on the bridge's address: the bridge must exist first.
  await o.network.ensureSetup();
  const gateway = startResultsGateway({
    hostname: o.gatewayIp,
    port: o.port,
    tls: { cert: readFileSync(certs.certPath, "utf8"), key: readFileSync(certs.keyPath, "utf8") },
    cacheUrl: o.cacheUrl,
    upstreamUrl: o.upstreamUrl || undefined,
    log: o.log,
  });
  try {
    await o.network.redirect(443, gateway.port);
  } catch (e) {
    await gateway.stop();
    throw e;
  }
  o.log.info("results gateway listening", { address: o.gatewayIp, port: gateway.port, certs: join(o.dir) });
  return { ...guestResultsSetup(o.gatewayIp, readFileSync(certs.caCertPath, "utf8")), bindings: new ResultsBindings(gateway), port: gateway.port, stop: () => gateway.stop() };
}
