/** The conformance suite against the qemu driver (software emulation here; KVM where it works). */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { runDriverConformance } from "./conformance.ts";

runDriverConformance({
  name: "qemu",
  timeoutMs: 90_000,
  driver: async () => {
    await ensureVmAssets();
    return new QemuDriver({ stateDir: mkdtempSync(join(tmpdir(), "nimbus-qemu-state-")), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2 });
  },
});
