/** The names Nimbus gives its network devices (address math: src/vm/subnet.ts). */
import { AppError } from "../../src/core/errors.ts";
import { INSTANCE_PREFIX } from "../vm/run.ts";

/** Tap names must fit IFNAMSIZ (15): "nmb" + 10 hex chars of the instance name's hash. */
export const TAP_PREFIX = "nmb";

function hashOf(instance: string): string {
  if (!instance.startsWith(INSTANCE_PREFIX)) throw new AppError("validation_failed", `not a Nimbus instance name: ${instance}`);
  return new Bun.CryptoHasher("sha256").update(instance).digest("hex").slice(0, 10);
}

export function tapName(instance: string): string {
  return TAP_PREFIX + hashOf(instance);
}

/** A sandbox job's veth pair: the host end on the bridge is "nmv" + the hash (its peer is eth0 inside). */
export const VETH_PREFIX = "nmv";

export function vethName(instance: string): string {
  return VETH_PREFIX + hashOf(instance);
}

/** The network namespace made for one sandbox job (a name under /run/netns). */
export const NETNS_PREFIX = "nimbus-ns-";

export function netnsName(instance: string): string {
  return NETNS_PREFIX + hashOf(instance);
}
