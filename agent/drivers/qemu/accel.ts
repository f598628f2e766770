/**
 * Which accelerator QEMU can use here. /dev/kvm existing is not enough (nested virtualisation can
 * be absent or broken): KVM counts only when a probe boot under it reaches guest userspace.
 */
import { accessSync, constants } from "node:fs";
import { createLogger } from "../../../src/core/log.ts";
import type { Accel } from "./args.ts";

const log = createLogger("qemu-accel");

export type AccelSetting = "auto" | Accel;

/** Runs `boot` (a probe VM under KVM that resolves true once the guest is up) only when /dev/kvm is usable. */
export async function chooseAccel(setting: AccelSetting, bootUnderKvm: () => Promise<boolean>): Promise<Accel> {
  if (setting !== "auto") return setting;
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return "tcg";
  }
  const ok = await bootUnderKvm().catch(() => false);
  log.info("kvm probe", { kvm: ok });
  return ok ? "kvm" : "tcg";
}
