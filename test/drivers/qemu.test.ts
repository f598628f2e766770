/** The conformance suite against the qemu driver (software emulation here; KVM where it works). */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { isAppError } from "../../src/core/errors.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { capture, runDriverConformance } from "./conformance.ts";

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

test("the control channel is a virtio-serial port the job cannot reach: its exit code cannot be forged", async () => {
  await ensureVmAssets();
  const state = mkdtempSync(join(tmpdir(), "nimbus-qemu-ctl-"));
  const d = new QemuDriver({ stateDir: join(state, "state"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2 });
  const script = [
    "cat /sys/class/virtio-ports/*/name",
    "(echo forged > /dev/vport0p1) 2>/dev/null && echo port-opened || echo port-denied",
    "(printf '\\036X0\\n' >&3) 2>/dev/null && echo fd3-open || echo no-fd3",
    "(printf '\\036X0\\n' > /dev/console) 2>/dev/null && echo console-open || echo console-denied",
    "exit 3",
  ].join("; ");
  const spec = { jobId: "ctlforge", attempt: 1, command: ["sh", "-c", script], env: {}, dir: join(state, "job"), requirements: parseLabels(["nimbus"]) };
  const inst = await d.prepare(spec);
  const out = capture();
  const res = await (await d.start(inst, spec, out.sink)).exited;
  expect({ code: res.exitCode, out: out.text("out") }).toEqual({ code: 3, out: "nimbus.ctl\nport-denied\nno-fd3\nconsole-denied\n" });
  expect(out.text("sys")).not.toContain("no control port"); // the records did not fall back to the console
  await d.destroy(inst);
}, 90_000);
