/**
 * The rootfs pipeline end to end: a base archive made from a folder, a versions file with its
 * sha256 and an overlay, build (ext4, content-addressed), activate, boot it; a tampered image is
 * refused before boot, and so is a base whose sha256 does not match.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { buildImage } from "../../agent/images/build.ts";
import { activeImageRootfs } from "../../agent/images/rootfs.ts";
import { ImageStore, sha256File } from "../../agent/images/store.ts";
import { loadVersions } from "../../agent/images/versions.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { capture } from "../drivers/conformance.ts";
import { runnerMounts } from "../../agent/github/runner.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-images-"));
const store = new ImageStore(join(dir, "images"));

async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["sh", "-ec", script], { stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(script);
}

beforeAll(async () => {
  await ensureVmAssets();
  const root = join(dir, "base-root");
  await sh(`mkdir -p ${root}/bin ${root}/etc ${root}/home/runner ${root}/tmp && cp /bin/busybox ${root}/bin/ && for a in sh cat echo id ls; do ln -s busybox ${root}/bin/$a; done
printf 'root:x:0:0::/root:/bin/sh\\nrunner:x:1000:1000::/home/runner:/bin/sh\\n' > ${root}/etc/passwd && chmod 1777 ${root}/tmp
tar -C ${root} -cf ${dir}/base.tar .`);
  mkdirSync(join(dir, "overlay/etc"), { recursive: true });
  writeFileSync(join(dir, "overlay/etc/nimbus-release"), "from-the-overlay\n");
  const sum = await sha256File(join(dir, "base.tar"));
  writeFileSync(join(dir, "images.yaml"), `versions:
  test-1:
    description: busybox from a folder, plus an overlay
    base_path: base.tar
    sha256: ${sum}
    overlay_dir: overlay
  bad-sum:
    base_path: base.tar
    sha256: "${"0".repeat(64)}"
`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("build from a folder and overlay, activate, boot; a tampered image is refused", async () => {
  const versions = loadVersions(join(dir, "images.yaml"));
  const built = await buildImage(versions.get("test-1")!, store);
  expect(built.digest).toBe(await sha256File(store.pathOf(built.digest)));
  store.activate("test-1");
  expect(store.active()?.digest).toBe(built.digest);

  const driver = new QemuDriver({ stateDir: join(dir, "qemu"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2, rootfs: activeImageRootfs(store) });
  const spec = { jobId: "img1", attempt: 1, command: ["cat", "/etc/nimbus-release"], env: {}, dir: join(dir, "job1"), requirements: parseLabels(["nimbus"]) };
  const inst = await driver.prepare(spec);
  expect(inst.meta.rootfs).toBe(store.pathOf(built.digest));
  const out = capture();
  const res = await (await driver.start(inst, spec, out.sink)).exited;
  expect(out.text("out")).toBe("from-the-overlay\n");
  expect(res.exitCode).toBe(0);
  await driver.destroy(inst);

  appendFileSync(store.pathOf(built.digest), "tampered");
  const err = await driver.prepare({ ...spec, jobId: "img2", dir: join(dir, "job2") }).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain("failed verification");
}, 90_000);

test("a base whose sha256 does not match is refused", async () => {
  const err = await buildImage(loadVersions(join(dir, "images.yaml")).get("bad-sum")!, store).catch((e: Error) => e);
  expect((err as Error).message).toContain("expected 0000");
});

test("activating a version that was never built is a clear error", () => {
  expect(() => store.activate("nope")).toThrow("not built");
});

test("nimbus images build | activate | list drive the same pipeline; bad versions and sums are refused by name", () => {
  const env = { ...process.env, NIMBUS_IMAGES_DIR: join(dir, "cli-images") };
  const nimbus = (...args: string[]) => {
    const r = Bun.spawnSync([join(import.meta.dir, "../../bin/nimbus"), "images", ...args], { env, stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  };
  const file = join(dir, "images.yaml");
  const built = nimbus("build", "test-1", "--file", file, "--json");
  expect(built.code).toBe(0);
  const img = JSON.parse(built.out) as { version: string; digest: string };
  expect(img.version).toBe("test-1");
  expect(nimbus("activate", "test-1").out).toContain(`active: test-1 (sha256 ${img.digest})`);
  const list = JSON.parse(nimbus("list", "--json").out);
  expect(list.active).toMatchObject({ version: "test-1", digest: img.digest });
  expect(list.built.map((b: { version: string }) => b.version)).toEqual(["test-1"]);
  expect(nimbus("list").out).toMatch(/^\*\s+test-1\s/m);

  const unknown = nimbus("build", "nope", "--file", file);
  expect(unknown.code).toBe(1);
  expect(unknown.err).toContain("no version nope in");
  expect(unknown.err).toContain("test-1, bad-sum");
  const badSum = nimbus("build", "bad-sum", "--file", file);
  expect(badSum.code).toBe(1);
  expect(badSum.err).toContain("expected 0000");
  expect(nimbus("activate", "bad-sum").err).toContain("not built (run: nimbus images build bad-sum)");
  expect(nimbus("build", "test-1", "--file", join(dir, "missing.yaml")).err).toContain("not found (give --file)");
});

test("an active image with a runner baked in: GitHub VM jobs start it and mount none; sandbox jobs still mount the agent's", () => {
  const store = new ImageStore(join(dir, "baked-store"));
  for (const [version, runner] of [["plain", undefined], ["baked", true]] as const) {
    const digest = version.padEnd(64, "0");
    writeFileSync(store.pathOf(digest), "");
    store.record({ version, digest, sizeBytes: 0, builtAt: new Date().toISOString(), runner });
  }
  const config = { githubRunnerDir: "/opt/actions-runner" };
  store.activate("plain");
  expect(store.activeHasRunner()).toBe(false);
  expect(runnerMounts(config, store.activeHasRunner())).toEqual([{ source: "/opt/actions-runner", target: "/runner" }]);
  store.activate("baked");
  expect(store.activeHasRunner()).toBe(true);
  expect(runnerMounts(config, store.activeHasRunner())).toEqual([]);
  // A sandbox job (vmWithBakedRunner false) mounts the agent's runner whatever the VM image has.
  expect(runnerMounts(config, false)).toEqual([{ source: "/opt/actions-runner", target: "/runner" }]);
  expect(runnerMounts({ githubRunnerDir: "" }, false)).toEqual([]);
});
