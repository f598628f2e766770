/** The names Nimbus gives its network devices (address math: src/vm/subnet.ts). */
import { AppError } from "../../src/core/errors.ts";
import { INSTANCE_PREFIX } from "../vm/run.ts";

/** Tap names must fit IFNAMSIZ (15): "nmb" + 10 hex chars of the instance name's hash. */
export const TAP_PREFIX = "nmb";

export function tapName(instance: string): string {
  if (!instance.startsWith(INSTANCE_PREFIX)) throw new AppError("validation_failed", `not a Nimbus instance name: ${instance}`);
  return TAP_PREFIX + new Bun.CryptoHasher("sha256").update(instance).digest("hex").slice(0, 10);
}
