/** The conformance suite against the qemu driver (software emulation here; KVM where it works). */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { isAppError } from "../../src/core/errors.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { runDriverConformance } from "./conformance.ts";

runDriverConformance({
  name: "qemu",
  timeoutMs: 90_000,
  driver: async () => {
    await ensureVmAssets();
    return new QemuDriver({ stateDir: mkdtempSync(join(tmpdir(), "nimbus-qemu-state-")), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2 });
  },
});

test("missing VM assets: probe says which command builds them; prepare fails fast with a coded error", async () => {
  const empty = mkdtempSync(join(tmpdir(), "nimbus-noassets-"));
  const d = new QemuDriver({ stateDir: join(empty, "state"), assetsDir: empty, accel: "tcg" });
  const p = await d.probe();
  expect(p.ok).toBe(false);
  expect(p.detail).toContain("bun run scripts/vm/build-assets.ts");
  const err = await d.prepare({ jobId: "noassets", attempt: 1, command: ["true"], env: {}, dir: join(empty, "job"), requirements: parseLabels(["nimbus"]) }).catch((e: Error) => e);
  expect(isAppError(err, "unavailable")).toBe(true);
});
