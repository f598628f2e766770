/**
 * Which accelerator QEMU can use here. /dev/kvm existing is not enough (nested virtualisation can
 * be absent or broken): KVM counts only when a probe boot under it reaches guest userspace.
 */
import { accessSync, constants } from "node:fs";
import { createLogger } from "../../../src/core/log.ts";
import type { Accel } from "./args.ts";

const log = createLogger("qemu-accel");

export type AccelSetting = "auto" | Accel;

/** One probe per VMM binary per process: the answer does not change while the agent runs. */
const probed = new Map<string, Promise<boolean>>();

/** Runs `boot` (a probe VM under KVM that resolves true once the guest is up) only when /dev/kvm is usable. */
export async function chooseAccel(setting: AccelSetting, bootUnderKvm: () => Promise<boolean>, memoKey = "qemu"): Promise<Accel> {
  if (setting !== "auto") return setting;
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return "tcg";
  }
  let p = probed.get(memoKey);
  if (!p) {
    p = bootUnderKvm().catch(() => false);
    probed.set(memoKey, p);
    p.then((kvm) => log.info("kvm probe", { kvm }));
  }
  const ok = await p;
  return ok ? "kvm" : "tcg";
}
