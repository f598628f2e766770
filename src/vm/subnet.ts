/** IPv4 subnet arithmetic for the guests' network, and its default: pure, shared by the agent and `nimbus up`. */
import { AppError } from "../core/errors.ts";

/** The VM bridge's subnet unless NIMBUS_VM_SUBNET says otherwise (the gateway is its first address). */
export const DEFAULT_VM_SUBNET = "10.88.0.0/24";

export interface Subnet {
  base: number;
  prefix: number;
}

export function parseCidr(cidr: string): Subnet {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new AppError("validation_failed", `"${cidr}" is not an IPv4 CIDR`, { field: "subnet" });
  const prefix = Number(m[5]);
  if (prefix < 16 || prefix > 29) throw new AppError("validation_failed", `subnet /${prefix}: use /16 to /29`, { field: "subnet" });
  const ip = m.slice(1, 5).reduce((a, o) => a * 256 + Number(o), 0);
  return { base: ip - (ip % 2 ** (32 - prefix)), prefix };
}

export function ipString(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

export const gatewayOf = (s: Subnet) => ipString(s.base + 1);
export const guestIp = (s: Subnet, host: number) => ipString(s.base + host);
export const maxHost = (s: Subnet) => 2 ** (32 - s.prefix) - 2;
export const cidrOf = (s: Subnet) => `${ipString(s.base)}/${s.prefix}`;

/** Locally administered MAC from the guest's address: unique within the subnet. */
export function macFor(s: Subnet, host: number): string {
  const ip = s.base + host;
  const bytes = [0x06, 0x4e, ...[24, 16, 8, 0].map((sh) => Math.floor(ip / 2 ** sh) % 256)];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
