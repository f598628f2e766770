/**
 * `image:<ref>` jobs: an OCI image layout built offline (busybox-static in one layer; a second
 * layer adding a file, deleting one with a whiteout and emptying a directory with an opaque
 * marker), pushed with skopeo to a local docker-registry, pulled and converted to ext4, cached by
 * digest (a second tag of the same image downloads nothing), then booted by the qemu driver for a
 * job labelled image:<ref>. How a hostile layer is kept inside its root: test/vm/unpack.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { OciImages } from "../../agent/images/oci.ts";
import { jobRootfs } from "../../agent/images/rootfs.ts";
import { ImageStore } from "../../agent/images/store.ts";
import { isAppError } from "../../src/core/errors.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { capture } from "../drivers/conformance.ts";
import { pushLayout, startRegistry, writeOciLayout } from "./fixtures/oci.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-oci-"));
const store = new ImageStore(join(dir, "images"));
let registry: Awaited<ReturnType<typeof startRegistry>>;
let oci: OciImages;

async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["sh", "-ec", script], { stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(script);
}

beforeAll(async () => {
  const [l1, l2] = [join(dir, "l1"), join(dir, "l2")];
  await sh(`mkdir -p ${l1}/bin ${l1}/etc ${l1}/home/runner ${l1}/tmp ${l1}/opt/old && cp /bin/busybox ${l1}/bin/ && for a in sh cat ls test; do ln -s busybox ${l1}/bin/$a; done
printf 'root:x:0:0::/root:/bin/sh\\nrunner:x:1000:1000::/home/runner:/bin/sh\\n' > ${l1}/etc/passwd && chmod 1777 ${l1}/tmp && chown 1000:1000 ${l1}/home/runner
echo lower > ${l1}/etc/removed-later && echo a > ${l1}/opt/old/a
mkdir -p ${l2}/etc ${l2}/opt/old && echo from-layer-2 > ${l2}/etc/nimbus-release && : > ${l2}/etc/.wh.removed-later && : > ${l2}/opt/old/.wh..wh..opq && echo b > ${l2}/opt/old/b`);
  await writeOciLayout(join(dir, "layout"), "1", [l1, l2]);
  registry = await startRegistry(join(dir, "registry"));
  await pushLayout(join(dir, "layout"), "1", `${registry.host}/nimbus/busybox:1`);
  await pushLayout(join(dir, "layout"), "1", `${registry.host}/nimbus/busybox:same-image`);
  oci = new OciImages({ store, insecureRegistries: [registry.host] });
  await ensureVmAssets();
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("pull, convert to ext4 and cache by digest; another tag of the same image downloads nothing; unknown images are not_found", async () => {
  const first = await oci.resolve(`${registry.host}/nimbus/busybox:1`);
  expect(first.cached).toBe(false);
  expect(first.path).toBe(store.pathOf(first.ext4Digest));
  const again = await oci.resolve(`${registry.host}/nimbus/busybox:same-image`);
  expect(again).toEqual({ ...first, cached: true });
  const err = await oci.resolve(`${registry.host}/nimbus/nothing:1`).catch((e) => e);
  expect(isAppError(err, "not_found")).toBe(true);
  expect(isAppError(await oci.resolve("/etc/passwd").catch((e) => e), "validation_failed")).toBe(true);
}, 60_000);

test("a job labelled image:<ref> boots that image, with the layers' whiteouts applied; a tampered cached image is refused", async () => {
  const ref = `${registry.host}/nimbus/busybox:1`;
  const driver = new QemuDriver({ stateDir: join(dir, "qemu"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, accel: "tcg", rootfs: jobRootfs({ store, oci }) });
  const spec = { jobId: "oci1", attempt: 1, command: ["sh", "-c", "cat /etc/nimbus-release; ls /opt/old; test -e /etc/removed-later || echo removed; id -u"], env: {}, dir: join(dir, "job1"), requirements: parseLabels(["nimbus", `image:${ref}`]) };
  expect(spec.requirements.isolation).toBe("vm");
  const inst = await driver.prepare(spec);
  const out = capture();
  const res = await (await driver.start(inst, spec, out.sink)).exited;
  expect(out.text("out")).toBe("from-layer-2\nb\nremoved\n1000\n");
  expect(res.exitCode).toBe(0);
  await driver.destroy(inst);

  const { ext4Digest } = await oci.resolve(ref);
  appendFileSync(store.pathOf(ext4Digest), "tampered");
  const err = await driver.prepare({ ...spec, jobId: "oci2", dir: join(dir, "job2") }).catch((e) => e);
  expect(isAppError(err, "forbidden")).toBe(true);
}, 90_000);
