/**
 * MicroVM latency benchmark: per driver, launch -> guest userspace, launch -> job exec, snapshot
 * restore -> job exec, and warm pool take -> job exec, p50 over repeated runs, with whether KVM
 * was used.
 *
 *   bun run scripts/bench/vm.ts [--runs 5] [--ci STORE_DIR]
 *
 * --ci: also the Debian ci image (`nimbus images build ci`) from that image store (default
 * $NIMBUS_IMAGES_DIR, else artifacts/images; skipped when it holds no ci version): cold boot and
 * snapshot restore to job exec, with the guest's marks of one cold boot (the `modules` mark is
 * when the image's kernel modules — what dockerd needs — are loaded, right after the rootfs mount).
 * Also, on the ci image, a `docker` job (`docker info` then `echo docker-ok`): cold boot (the guest
 * starts dockerd from the job's config) → `docker info` ok, snapshot restore of the docker shape
 * (its template started dockerd before it was taken) → `docker info` ok, and warm pool take of a
 * `2c4g+docker` VM → `docker info` ok, with the ratio restore / cold (issue 13's target ≤ 1/5).
 * These VMs have no network (no gateway, so no daemon reload: docker-warm.test.ts runs that path).
 *
 * "launch" is the moment the VMM process is spawned; "guest userspace" is the guest init's ready
 * record on the console; "job exec" is the job's first output line (the job is `echo exec`).
 * "snapshot restore" starts at driver.start() of a prepared job whose shape has a snapshot (QEMU
 * restores it, resumes, rings the doorbell). "warm pool take" starts at driver.prepare() while the
 * pool holds an idle VM of the job's shape (take, config written into its disk, doorbell).
 * Also printed: the guest's own marks after a restore (doorbell heard, config read, job exec).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FirecrackerDriver } from "../../agent/drivers/firecracker/driver.ts";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import { installJobDisk, restoreVm } from "../../agent/drivers/qemu/snapshot.ts";
import { spawnQemu } from "../../agent/drivers/qemu/spawn.ts";
import { SnapshotPool } from "../../agent/drivers/qemu/snapshot-pool.ts";
import { parseWarmClasses } from "../../src/agents/warm-schedule.ts";
import type { RunSpec } from "../../agent/drivers/types.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { ensureVmAssets } from "../vm/build-assets.ts";
import { ImageStore } from "../../agent/images/store.ts";
import { DEFAULT_IMAGES_DIR } from "../../src/agents/settings.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-vm-"));
const req = parseLabels(["nimbus"]);
const common = { maxVcpus: 1, maxMemoryMiB: 512, jobDiskGiB: 2 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function p50(xs: number[]): string {
  if (xs.length === 0) return "-";
  const s = [...xs].sort((a, b) => a - b);
  return `${Math.round(s[Math.floor((s.length - 1) / 2)]!)} ms`;
}

let seq = 0;
function spec(): RunSpec {
  const n = seq++;
  return { jobId: `bench${n}`, attempt: 1, command: ["echo", "exec"], env: {}, dir: join(dir, `job${n}`), requirements: req };
}

/** Cold boot straight from the command line: ms to userspace and to the job's first output (and the guest's marks). */
async function cold(driver: QemuDriver) {
  const s = spec();
  const inst = await driver.prepare(s);
  const plan = await driver.plan(inst, "run");
  let execAt = 0;
  const t0 = performance.now();
  const vm = spawnQemu(plan, driver.binary, (st, text) => void (st === "out" && text.includes("exec") && !execAt && (execAt = performance.now())));
  const readyAt = await vm.ready.then(() => performance.now());
  const res = await vm.exited;
  await driver.destroy(inst);
  if (res.exitCode !== 0 || !execAt) throw new Error(`cold run failed: exit ${res.exitCode}`);
  return { userspace: readyAt - t0, exec: execAt - t0, marks: vm.marks.map((m) => `${m.stage} ${Math.round(m.at - t0)}`).join(", ") };
}

/** Through the driver: `from` "start" (snapshot restore) or "prepare" (warm pool take). */
async function viaDriver(driver: QemuDriver, from: "start" | "prepare"): Promise<number> {
  const s = spec();
  let t0 = performance.now();
  const inst = await driver.prepare(s);
  if (from === "start") t0 = performance.now();
  let execAt = 0;
  const exec = await driver.start(inst, s, (st, text) => void (st === "out" && text.includes("exec") && !execAt && (execAt = performance.now())));
  const res = await exec.exited;
  await driver.destroy(inst);
  if (res.exitCode !== 0 || !execAt) throw new Error(`run failed: exit ${res.exitCode}`);
  if (from === "prepare" && !inst.meta.warmVm) throw new Error("the job did not take a warm VM");
  if (from === "start" && !inst.meta.snapshot) throw new Error("the job was not restored from a snapshot");
  return execAt - t0;
}

/** One restore with the guest's marks: where the time after `cont` goes. */
async function restoreMarks(driver: QemuDriver, snaps: SnapshotPool): Promise<string> {
  const s = spec();
  const inst = await driver.prepare(s);
  const plan = await driver.plan(inst, "run");
  const snap = (await snaps.find(plan))!;
  await installJobDisk(snap, plan.jobDisk);
  let outAt = 0;
  const t0 = performance.now();
  const vm = await restoreVm(plan, snap, driver.binary, (st) => void (st === "out" && !outAt && (outAt = performance.now())));
  const resumed = performance.now() - t0;
  await vm.exited;
  await driver.destroy(inst);
  const marks = vm.marks.map((m) => `${m.stage} ${Math.round(m.at - t0)}`).join(", ");
  return `resumed ${Math.round(resumed)}, ${marks}, first output ${Math.round(outAt - t0)} (ms after launch)`;
}

/** The ci image's path in STORE (verified), or undefined when it was never built there. */
async function ciImage(): Promise<string | undefined> {
  const i = process.argv.indexOf("--ci");
  if (i < 0) return undefined;
  const next = process.argv[i + 1];
  const store = new ImageStore(next && !next.startsWith("--") ? next : process.env.NIMBUS_IMAGES_DIR || DEFAULT_IMAGES_DIR);
  const ci = store.index().ci;
  if (!ci) return void console.error(`no ci image in ${store.dir} (build it: nimbus images build ci); skipping its row`);
  return store.verify(ci.digest);
}

/** The docker job: `docker info`, then a marker line; the clock stops at the marker. */
function dockerSpec(): RunSpec {
  return { ...spec(), command: ["sh", "-c", "docker info > /dev/null && echo docker-ok"], requirements: parseLabels(["nimbus", "docker"]) };
}

/** ms from `from` (start: cold boot or restore; prepare: warm take) to the job's "docker-ok". */
async function dockerRun(driver: QemuDriver, from: "start" | "prepare"): Promise<{ ms: number; how: string }> {
  const s = dockerSpec();
  let t0 = performance.now();
  const inst = await driver.prepare(s);
  if (from === "start") t0 = performance.now();
  let okAt = 0;
  const exec = await driver.start(inst, s, (st, text) => void (st === "out" && text.includes("docker-ok") && !okAt && (okAt = performance.now())));
  const res = await exec.exited;
  await driver.destroy(inst);
  if (res.exitCode !== 0 || !okAt) throw new Error(`docker run failed: exit ${res.exitCode}`);
  return { ms: okAt - t0, how: inst.meta.warmVm ? "warm" : inst.meta.snapshot ? "restored" : "cold" };
}

/** Docker jobs on the ci image: cold boot, snapshot restore and warm take, each → `docker info` ok. */
async function dockerRows(path: string) {
  const cold = new QemuDriver({ stateDir: join(dir, "state-docker"), ...common, maxMemoryMiB: 1024, rootfs: async () => path });
  const c: number[] = [];
  for (let i = 0; i < runs; i++) c.push((await dockerRun(cold, "start")).ms);
  const snaps = new SnapshotPool({ dir: join(dir, "snapshots-docker"), jobDiskGiB: common.jobDiskGiB });
  const t0 = performance.now();
  await snaps.prepare(await cold.planFor(dockerSpec().requirements, path));
  const templateMs = performance.now() - t0;
  const restoring = new QemuDriver({ stateDir: join(dir, "state-docker-snap"), ...common, maxMemoryMiB: 1024, rootfs: async () => path, snapshots: snaps });
  const restored: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await dockerRun(restoring, "start");
    if (r.how !== "restored") throw new Error("the docker job was not restored from a snapshot");
    restored.push(r.ms);
  }
  const pooled = new QemuDriver({ stateDir: join(dir, "state-docker-warm"), ...common, maxMemoryMiB: 1024, rootfs: async () => path, snapshots: snaps, warmPool: { classes: parseWarmClasses("2c4g+docker=1..1") } });
  await pooled.probe();
  const warm: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await pooled.warm!.settled();
      const r = await dockerRun(pooled, "prepare");
      if (r.how !== "warm") throw new Error("the docker job did not take a warm VM");
      warm.push(r.ms);
    }
  } finally {
    await pooled.close();
  }
  return { c, restored, warm, templateMs };
}

/** Cold and restored runs on the ci image. */
async function ciRows(path: string) {
  const driver = new QemuDriver({ stateDir: join(dir, "state-ci"), ...common, rootfs: async () => path });
  const c = { userspace: [] as number[], exec: [] as number[], marks: "" };
  for (let i = 0; i < runs; i++) {
    const r = await cold(driver);
    c.userspace.push(r.userspace);
    c.exec.push(r.exec);
    c.marks = r.marks;
  }
  const snaps = new SnapshotPool({ dir: join(dir, "snapshots-ci"), jobDiskGiB: common.jobDiskGiB });
  await snaps.prepare(await driver.planFor(req, path));
  const restoring = new QemuDriver({ stateDir: join(dir, "state-ci-snap"), ...common, rootfs: async () => path, snapshots: snaps });
  const restored: number[] = [];
  for (let i = 0; i < runs; i++) restored.push(await viaDriver(restoring, "start"));
  return { c, restored };
}

async function main() {
  await ensureVmAssets();
  const plain = new QemuDriver({ stateDir: join(dir, "state"), ...common });
  const accel = await plain.accel();
  const c = { userspace: [] as number[], exec: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const r = await cold(plain);
    c.userspace.push(r.userspace);
    c.exec.push(r.exec);
  }
  const snaps = new SnapshotPool({ dir: join(dir, "snapshots"), jobDiskGiB: common.jobDiskGiB });
  await snaps.prepare(await plain.planFor(req));
  const restoring = new QemuDriver({ stateDir: join(dir, "state-snap"), ...common, snapshots: snaps });
  const restored: number[] = [];
  for (let i = 0; i < runs; i++) restored.push(await viaDriver(restoring, "start"));
  const marks = await restoreMarks(restoring, snaps);

  const pooled = new QemuDriver({ stateDir: join(dir, "state-warm"), ...common, snapshots: snaps, warmPool: { classes: parseWarmClasses("2c4g=1..1") } });
  await pooled.probe();
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    await pooled.warm!.settled();
    warm.push(await viaDriver(pooled, "prepare"));
  }
  await pooled.close();

  const ciPath = await ciImage();
  const ci = ciPath ? await ciRows(ciPath) : undefined;
  const docker = ciPath ? await dockerRows(ciPath) : undefined;
  const plainMarks = (await cold(plain)).marks;

  const fc = await new FirecrackerDriver({ stateDir: join(dir, "fc") }).probe();
  const rows = [
    ["driver", "KVM", "launch → guest userspace", "launch → job exec", "snapshot restore → job exec", "warm pool take → job exec", "runs"],
    ["qemu (-M microvm)", accel === "kvm" ? "yes" : "no (TCG)", p50(c.userspace), p50(c.exec), p50(restored), p50(warm), `${runs}`],
    ...(ci ? [["qemu, ci image", accel === "kvm" ? "yes" : "no (TCG)", p50(ci.c.userspace), p50(ci.c.exec), p50(ci.restored), "not measured", `${runs}`]] : []),
    ...(docker ? [["qemu, ci image, docker job: → `docker info` ok", accel === "kvm" ? "yes" : "no (TCG)", "-", p50(docker.c), p50(docker.restored), p50(docker.warm), `${runs}`]] : []),
    ["firecracker", "-", fc.ok ? "not measured" : "cannot run here", "-", "-", "-", fc.ok ? "0" : `(${fc.detail})`],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((x, i) => x.padEnd(widths[i]!)).join(" | "));
  const raw = (xs: number[]) => xs.map(Math.round).join(", ");
  console.log(`\nraw (ms): cold userspace ${raw(c.userspace)}; cold exec ${raw(c.exec)}; restore exec ${raw(restored)}; warm exec ${raw(warm)}`);
  console.log(`restore breakdown: ${marks}`);
  console.log(`cold boot marks, test rootfs (ms after launch): ${plainMarks}`);
  if (ci) {
    console.log(`ci raw (ms): cold userspace ${raw(ci.c.userspace)}; cold exec ${raw(ci.c.exec)}; restore exec ${raw(ci.restored)}`);
    console.log(`cold boot marks, ci image (ms after launch): ${ci.c.marks}`);
  }
  if (docker) {
    const ratio = median(docker.restored) / median(docker.c);
    console.log(`docker raw (ms): cold → docker info ${raw(docker.c)}; restore → docker info ${raw(docker.restored)}; warm take → docker info ${raw(docker.warm)}; docker snapshot template built in ${Math.round(docker.templateMs)}`);
    console.log(`docker job, restore / cold boot (→ docker info ok): ${ratio.toFixed(2)} (target ≤ 0.20: ${ratio <= 0.2 ? "met" : "NOT met"}); warm take / cold: ${(median(docker.warm) / median(docker.c)).toFixed(2)}`);
  }
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
