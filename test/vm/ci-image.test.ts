/**
 * The `ci` image (scripts/images/images.yaml): built from Debian packages with mmdebstrap (network
 * to the Debian archive apt uses), with a runner-shaped tarball baked in, then one VM job on it
 * under QEMU (software emulation here) as the job user.
 *
 * SLOW on a cold cache: the build takes ~2-4 min on 2 shared cores, the boot ~10-20 s under TCG. The
 * image store is kept between runs in a well-known directory ($NIMBUS_TEST_CI_IMAGE_DIR, default
 * <tmpdir>/nimbus-ci-image-cache): the build is named by the digest of its inputs, so a run with
 * unchanged recipe, packages, guest init and kernel reuses it (a cache hit costs hashing) and CI
 * builds it once. The bad-input cases below need no VM and no full build.
 */
import { beforeAll, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { buildDebianImage } from "../../agent/images/debian-recipe.ts";
import { checkRunnerTarball } from "../../agent/images/runner-tarball.ts";
import { ImageStore } from "../../agent/images/store.ts";
import { loadVersions } from "../../agent/images/versions.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { loadVmAssets } from "../../src/vm/assets.ts";
import { capture } from "../drivers/conformance.ts";
import { ciImage as buildCiImage, CI_IMAGE_CACHE as cacheDir, guestKernel, RECIPES, runnerTarball as makeTarball, sh } from "./ci-image.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-ci-image-"));
let kernel: { version: string; deb: string };
/** The ci image built by the first test (the docker test boots it too). */
let ciImage: string | undefined;

const runnerTarball = (out: string, files: Record<string, string>) => makeTarball(dir, out, files);

/** The error a promise rejects with (a test failure if it resolves). */
async function errorOf(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(() => undefined, (e: Error) => e);
  if (!r) throw new Error("expected a refusal, got success");
  return r;
}

function imagesFile(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

beforeAll(async () => {
  kernel = await guestKernel();
});

test("the ci image builds once per inputs digest, and a VM job on it has git, python3, passwordless sudo, uid 1000 and Docker's modules", async () => {
  const store = new ImageStore(cacheDir);
  const progress: string[] = [];
  const t0 = performance.now();
  const first = await buildCiImage(dir, { store, onProgress: (l) => progress.push(l) });
  const firstMs = performance.now() - t0;
  const t1 = performance.now();
  const again = await buildCiImage(dir, { store });
  const againMs = performance.now() - t1;
  console.log(`ci image: ${first.cached ? "cached" : "built"} in ${Math.round(firstMs)} ms, then cached in ${Math.round(againMs)} ms; ${Math.round(first.sizeBytes / 1048576)} MiB`);
  expect(again).toMatchObject({ cached: true, digest: first.digest, inputs: first.inputs, runner: true, docker: true });
  if (!first.cached) expect(progress.some((l) => l.includes("mmdebstrap"))).toBe(true);
  expect(await store.verify(first.digest)).toBe(store.pathOf(first.digest));

  const assets = loadVmAssets();
  const driver = new QemuDriver({ stateDir: join(dir, "qemu"), maxVcpus: 1, maxMemoryMiB: 1024, jobDiskGiB: 2, rootfs: async () => store.verify(first.digest) });
  const script = [
    "git --version && python3 --version && sudo -n true && id -u",
    "echo home=$HOME; test -d $HOME/work && echo workspace-ok",
    "/runner/bin/Runner.Listener",
    "for m in bridge br_netfilter veth nf_tables overlay; do grep -q \"^$m \" /proc/modules && echo mod-$m; done",
    "sudo -n id -u",
    "test -S /run/docker.sock && echo dockerd-running || echo no-dockerd",
  ].join("; ");
  const spec = { jobId: "ciimg1", attempt: 1, command: ["sh", "-c", script], env: {}, dir: join(dir, "job1"), requirements: parseLabels(["nimbus", "isolation:vm"]) };
  const inst = await driver.prepare(spec);
  expect(inst.meta.rootfs).toBe(store.pathOf(first.digest));
  const out = capture();
  const t2 = performance.now();
  const res = await (await driver.start(inst, spec, out.sink)).exited;
  console.log(`ci image: VM job (cold boot → exit, ${assets.kernelVersion}, TCG) ${Math.round(performance.now() - t2)} ms`);
  await driver.destroy(inst);
  const text = out.text("out");
  expect({ code: res.exitCode, err: out.text("err") }).toEqual({ code: 0, err: "" });
  expect(text).toMatch(/^git version 2\.\d+/m);
  expect(text).toMatch(/^Python 3\.11\.\d+$/m);
  expect(text.split("\n")).toEqual(expect.arrayContaining(["1000", "home=/home/runner", "workspace-ok", "runner-listener-baked", "mod-bridge", "mod-br_netfilter", "mod-veth", "mod-nf_tables", "mod-overlay", "0", "no-dockerd"]));
  ciImage = store.pathOf(first.digest);
}, 20 * 60_000);

test("a docker job on the ci image finds dockerd ready (data-root on the job disk): docker build and docker run as the job user", async () => {
  expect(ciImage).toBeDefined();
  const driver = new QemuDriver({ stateDir: join(dir, "qemu-docker"), maxVcpus: 1, maxMemoryMiB: 1024, jobDiskGiB: 2, rootfs: async () => ciImage! });
  // No registry reachable from this VM: the image is built FROM scratch with the busybox the guest init binds in.
  const script = [
    "set -e",
    "docker info --format '{{.Driver}} {{.DockerRootDir}} cgroup{{.CgroupVersion}}'",
    "mkdir -p $HOME/ctx && cp /.nimbus/busybox $HOME/ctx/",
    "printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nCMD [\"/bin/busybox\", \"echo\", \"hi from a container\"]\\n' > $HOME/ctx/Dockerfile",
    "DOCKER_BUILDKIT=0 docker build -q -t nimbus-ci-test $HOME/ctx > /dev/null",
    "docker run --rm nimbus-ci-test",
    "grep -c ' /var/lib/docker ' /proc/mounts",
  ].join("\n");
  const spec = { jobId: "cidocker", attempt: 1, command: ["sh", "-c", script], env: {}, dir: join(dir, "job-docker"), requirements: parseLabels(["nimbus", "docker"]) };
  const inst = await driver.prepare(spec);
  const out = capture();
  const t0 = performance.now();
  const res = await (await driver.start(inst, spec, out.sink)).exited;
  console.log(`ci image: docker job (cold boot, dockerd, build, run → exit, TCG) ${Math.round(performance.now() - t0)} ms`);
  await driver.destroy(inst);
  expect({ code: res.exitCode, out: out.text("out"), err: out.text("err") }).toEqual({ code: 0, out: "overlay2 /var/lib/docker cgroup2\nhi from a container\n1\n", err: "" });
}, 10 * 60_000);

test("a docker job on an image without dockerd fails at once saying it needs the ci image", async () => {
  const driver = new QemuDriver({ stateDir: join(dir, "qemu-nodocker"), maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2 });
  const spec = { jobId: "nodocker", attempt: 1, command: ["echo", "never"], env: {}, dir: join(dir, "job-nodocker"), requirements: parseLabels(["nimbus", "docker"]) };
  const inst = await driver.prepare(spec);
  const out = capture();
  const res = await (await driver.start(inst, spec, out.sink)).exited;
  await driver.destroy(inst);
  expect(res.exitCode).toBe(125);
  expect(out.text("out")).toBe("");
  expect(out.text("sys")).toContain("docker: this image has no dockerd (docker jobs need the ci image)");
}, 5 * 60_000);

test("a package that does not exist fails the build naming it; the active image stays active", async () => {
  const store = new ImageStore(join(dir, "store-bad"));
  writeFileSync(join(dir, "bad-packages.txt"), "bash\nnimbus-no-such-package-xyz\n");
  const file = imagesFile("bad.yaml", "versions:\n  bad:\n    debian:\n      packages_file: bad-packages.txt\n");
  writeFileSync(join(store.dir, "active.json"), JSON.stringify({ version: "before", digest: "a".repeat(64) }));
  const err = await errorOf(buildDebianImage(loadVersions(file).get("bad")!, store));
  expect(err.message).toBe("package nimbus-no-such-package-xyz does not exist in Debian bookworm (check the recipe's packages file)");
  expect(store.active()).toEqual({ version: "before", digest: "a".repeat(64) });
  expect(Object.keys(store.index())).toEqual([]);
}, 5 * 60_000);

test("malformed recipes are refused by field, before any build", async () => {
  writeFileSync(join(dir, "evil-packages.txt"), "bash\ngit;rm -rf /\n");
  const store = new ImageStore(join(dir, "store-evil"));
  const evil = loadVersions(imagesFile("evil.yaml", "versions:\n  e:\n    debian:\n      packages_file: evil-packages.txt\n")).get("e")!;
  expect((await errorOf(buildDebianImage(evil, store))).message).toContain('evil-packages.txt:2: "git;rm -rf /" is not a Debian package name');
  expect(() => loadVersions(imagesFile("m.yaml", "versions:\n  m:\n    debian:\n      packages_file: x\n      modules: ['../evil']\n"))).toThrow("m.debian.modules: a list of kernel module names");
  expect(() => loadVersions(imagesFile("s.yaml", "versions:\n  s:\n    debian:\n      suite: 'bookworm; true'\n      packages_file: x\n"))).toThrow("s.debian.suite");
  expect(() => loadVersions(imagesFile("b.yaml", "versions:\n  b:\n    base_path: x\n    debian:\n      packages_file: x\n"))).toThrow("a Debian recipe has no base_url or base_path");
  const noKernel = loadVersions(imagesFile("k.yaml", `versions:\n  k:\n    debian:\n      packages_file: ${RECIPES}/ci-packages.txt\n      modules: [bridge]\n`)).get("k")!;
  expect((await errorOf(buildDebianImage(noKernel, store))).message).toContain("no guest kernel was given");
});

test("a runner tarball that is not one is refused with a clear message", async () => {
  writeFileSync(join(dir, "plain.txt"), "not an archive\n");
  expect((await errorOf(checkRunnerTarball(join(dir, "plain.txt")))).message).toContain("not a gzip file");
  await sh(`echo hello | gzip -n > ${dir}/notar.gz`);
  expect((await errorOf(checkRunnerTarball(join(dir, "notar.gz")))).message).toContain("gzip, but not a readable tar archive");
  const other = await runnerTarball(join(dir, "other.tar.gz"), { "README.md": "hello\n" });
  expect((await errorOf(checkRunnerTarball(other))).message).toContain("it holds no runner (neither bin/Runner.Listener nor config.sh at its top)");
  await sh(`mkdir -p ${dir}/esc/a && echo x > ${dir}/esc/config.sh && echo y > ${dir}/evil && cd ${dir}/esc/a && tar -czf ${dir}/escape.tar.gz -P ../config.sh ../../evil`);
  expect((await errorOf(checkRunnerTarball(join(dir, "escape.tar.gz")))).message).toContain("would land outside the runner directory");
  await sh(`mkdir -p ${dir}/lnk && echo x > ${dir}/lnk/config.sh && ln -s /etc/shadow ${dir}/lnk/shadow && tar -C ${dir}/lnk -czf ${dir}/link.tar.gz config.sh shadow`);
  expect((await errorOf(checkRunnerTarball(join(dir, "link.tar.gz")))).message).toContain("points outside the runner directory");
  expect((await errorOf(checkRunnerTarball(join(dir, "missing.tar.gz")))).message).toContain("no such file");
  // Refused before the (long) build starts: a recipe naming such a tarball fails at once.
  const file = imagesFile("r.yaml", `versions:\n  r:\n    debian:\n      packages_file: ${RECIPES}/ci-packages.txt\n    runner_tarball: ${other}\n`);
  const progress: string[] = [];
  const store = new ImageStore(join(dir, "store-r"));
  expect((await errorOf(buildDebianImage(loadVersions(file).get("r")!, store, { kernel, onProgress: (l) => progress.push(l) }))).message).toContain("refused: it holds no runner");
  expect(progress).toEqual([]);
  expect(Object.keys(store.index())).toEqual([]);
});
