/**
 * The KVM probe: boot the real kernel and initramfs under KVM in "probe" mode (the guest init
 * reports ready and powers off at once). Nested virtualisation that is present but broken hangs or
 * aborts, so the probe is bounded by a short timeout.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { VmAssets } from "../../../src/vm/assets.ts";
import { spawnQemu } from "./spawn.ts";

export const KVM_PROBE_TIMEOUT_MS = 3_000;

export async function probeBoot(binary: string, assets: VmAssets, stateDir: string): Promise<boolean> {
  const dir = join(stateDir, "kvm-probe");
  mkdirSync(dir, { recursive: true });
  const [jobDisk, configDisk] = [join(dir, "job.img"), join(dir, "config.img")];
  for (const f of [jobDisk, configDisk]) writeFileSync(f, new Uint8Array(1 << 20));
  const plan = { name: "nimbus-probe-0", accel: "kvm" as const, vcpus: 1, memoryMiB: 256, kernel: assets.kernel, initramfs: assets.initramfs, rootfs: assets.rootfs, jobDisk, configDisk, qmpSocket: join(dir, "qmp.sock"), pidFile: join(dir, "qemu.pid"), mode: "probe" as const };
  const vm = spawnQemu(plan, binary, () => undefined);
  const timer = setTimeout(() => vm.kill(), KVM_PROBE_TIMEOUT_MS);
  try {
    await vm.ready;
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    vm.kill();
    await vm.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
