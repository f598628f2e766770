/**
 * The firecracker driver cannot run here (no KVM, no binary): every request body it sends is
 * validated against Firecracker's own API description, and its boot sequence runs over a real unix
 * socket against a schema-checking stand-in. Where Firecracker can run, the conformance suite runs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FirecrackerApi } from "../../agent/drivers/firecracker/api.ts";
import { configureAndStart, emptyMmdsOnceRead, FirecrackerDriver } from "../../agent/drivers/firecracker/driver.ts";
import { jailedLaunch } from "../../agent/drivers/firecracker/jailer.ts";
import { bootRequests, describe as describeReq, fcVcpus, firecrackerBootArgs, instanceStart, mmdsPut, pause, resume, snapshotCreate, snapshotLoad, type ApiRequest, type FcPlan } from "../../agent/drivers/firecracker/requests.ts";
import { isAppError } from "../../src/core/errors.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { runDriverConformance } from "./conformance.ts";
import { serveFirecrackerApi } from "./firecracker-api-server.ts";
import { loadSwagger, validateRequest, type SwaggerSpec } from "./swagger.ts";

const plan: FcPlan = {
  vcpus: 2, memoryMiB: 1024, kernel: "vmlinux", initramfs: "initramfs.cpio", rootfs: "rootfs.ext4", jobDisk: "job.ext4", configDisk: "config.img",
  bootArgs: firecrackerBootArgs("run"), net: { tap: "nmb0a1b2c3", mac: "06:00:0a:58:00:02" }, logPath: "fc.log",
  mounts: [{ id: "m0", image: "m0.ext4" }],
};

function everyRequest(): ApiRequest[] {
  return [
    ...bootRequests(plan), ...bootRequests({ ...plan, net: undefined, logPath: undefined, vcpus: 3 }), ...bootRequests({ ...plan, mmdsConfig: "NIMBUS1\nend\n" }), mmdsPut(null),
    instanceStart, pause, resume, describeReq,
    snapshotCreate("snap/vm.state", "snap/vm.mem"), snapshotLoad("snap/vm.state", "snap/vm.mem", "nmb0ffff01"), snapshotLoad("s", "m"),
  ];
}

let spec: SwaggerSpec;
beforeAll(async () => {
  spec = await loadSwagger();
});

describe("firecracker requests against the v1.16.1 API description", () => {
  test("every request body the driver builds validates", () => {
    for (const r of everyRequest()) expect({ req: `${r.method} ${r.path}`, errors: validateRequest(spec, r.method, r.path, r.body) }).toEqual({ req: `${r.method} ${r.path}`, errors: [] });
  });

  test("the validator is not vacuous: bad bodies are refused", () => {
    expect(validateRequest(spec, "PUT", "/boot-source", { boot_args: "x" })).toContain("body.kernel_image_path: required");
    expect(validateRequest(spec, "PUT", "/actions", { action_type: "Start" })[0]).toContain("is not one of");
    expect(validateRequest(spec, "PUT", "/machine-config", { vcpu_count: "2", mem_size_mib: 1 })[0]).toContain("expected integer");
    expect(validateRequest(spec, "PUT", "/drives/x", { drive_id: "x", is_root_device: false, bogus: 1 })).toContain("body.bogus: not in the schema");
    expect(validateRequest(spec, "PUT", "/nowhere", {})[0]).toContain("no path");
    expect(validateRequest(spec, "PUT", "/snapshot/load", { snapshot_path: "s", mem_backend: { backend_type: "Disk", backend_path: "m" } })[0]).toContain("is not one of");
  });

  test("vCPU counts are 1 or even", () => {
    expect([1, 2, 3, 4, 5, 16, 64].map(fcVcpus)).toEqual([1, 2, 2, 4, 4, 16, 32]);
  });

  test("drives go rootfs, job, config (the guest's vda, vdb, vdc), then mounts read-only; none as the kernel's root", () => {
    const drives = bootRequests(plan).filter((r) => r.path.startsWith("/drives/"));
    expect(drives.map((d) => d.body!.drive_id)).toEqual(["rootfs", "job", "config", "m0"]);
    expect(drives.map((d) => d.body!.is_read_only)).toEqual([true, false, true, true]);
    expect(drives.every((d) => d.body!.is_root_device === false)).toBe(true);
  });

  test("jailer command line puts API paths in the chroot", () => {
    const l = jailedLaunch("/usr/bin/firecracker", "nimbus-j1-1", { uid: 900, gid: 900, chrootBase: "/srv/jailer", netns: "/var/run/netns/nimbus-j1-1", cgroupVersion: 2, cgroups: ["memory.max=1073741824"] });
    expect(l.root).toBe("/srv/jailer/firecracker/nimbus-j1-1/root");
    expect(l.socket).toBe(join(l.root, "fc.sock"));
    expect(l.argv.slice(0, 3)).toEqual(["jailer", "--id", "nimbus-j1-1"]);
    expect(l.argv).toContain("--netns");
    expect(l.argv.slice(-3)).toEqual(["--", "--api-sock", "/fc.sock"]);
  });
});

describe("firecracker boot sequence over a unix socket", () => {
  let dir: string;
  let server: ReturnType<typeof serveFirecrackerApi>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nimbus-fc-"));
    server = serveFirecrackerApi(join(dir, "fc.sock"), spec);
  });
  afterAll(() => {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("configure and InstanceStart: every request accepted, in order", async () => {
    const api = new FirecrackerApi(join(dir, "fc.sock"));
    await api.waitReady();
    await configureAndStart(api, plan, { ready: Promise.resolve(0.1) }, 1000);
    const sent = server.seen.filter((r) => r.path !== "/" || r.method !== "GET");
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual([
      "PUT /logger", "PUT /machine-config", "PUT /boot-source", "PUT /drives/rootfs", "PUT /drives/job", "PUT /drives/config", "PUT /drives/m0", "PUT /network-interfaces/eth0", "PUT /actions",
    ]);
    expect(server.seen.every((r) => r.errors.length === 0)).toBe(true);
    expect((await api.send<{ state: string }>(describeReq))?.state).toBe("Running");
  });

  test("job config over MMDS: V2 on the guest's NIC after it exists, the config base64 at /nimbus/config; emptied once the guest read it", async () => {
    const api = new FirecrackerApi(join(dir, "fc.sock"));
    const from = server.seen.length;
    const config = "NIMBUS1\nname nimbus-x-1\nend\n";
    await configureAndStart(api, { ...plan, mmdsConfig: config, bootArgs: firecrackerBootArgs("run", "mmds") }, { ready: Promise.resolve(0.1) }, 1000);
    const sent = server.seen.slice(from);
    expect(sent.every((r) => r.errors.length === 0)).toBe(true);
    const paths = sent.map((r) => `${r.method} ${r.path}`);
    expect(paths.slice(paths.indexOf("PUT /network-interfaces/eth0"))).toEqual(["PUT /network-interfaces/eth0", "PUT /mmds/config", "PUT /mmds", "PUT /actions"]);
    expect(sent.find((r) => r.path === "/mmds/config")!.body).toEqual({ version: "V2", network_interfaces: ["eth0"], ipv4_address: "169.254.169.254" });
    expect(Buffer.from((sent.find((r) => r.path === "/mmds")!.body as { nimbus: { config: string } }).nimbus.config, "base64").toString()).toBe(config);
    expect(sent.find((r) => r.path === "/boot-source")!.body).toMatchObject({ boot_args: expect.stringContaining("nimbus.config=mmds") });

    // The guest's `mmds` mark arrives: MMDS is emptied, then the guest is told to go on.
    const vm = { marks: [] as { stage: string; uptime: number; at: number }[], rings: [] as string[], ring(w?: string) { this.rings.push(w ?? "go"); }, kill() {} };
    const done = emptyMmdsOnceRead(api, vm as never, 2000);
    await Bun.sleep(30);
    expect(vm.rings).toEqual([]); // not before the guest read it
    vm.marks.push({ stage: "mmds", uptime: 1, at: 0 });
    expect(await done).toBe(true);
    expect(server.seen.at(-1)).toMatchObject({ method: "PUT", path: "/mmds", body: {}, errors: [] });
    expect(vm.rings).toEqual(["go"]);
  });

  test("MMDS config needs guest networking: refused when the driver is made", () => {
    expect(() => new FirecrackerDriver({ stateDir: join(dir, "nonet"), jobConfig: "mmds" })).toThrow("needs guest networking");
  });

  test("a fault from the API becomes a coded error naming the request", async () => {
    const api = new FirecrackerApi(join(dir, "fc.sock"));
    const err = await api.send({ method: "PUT", path: "/machine-config", body: { vcpu_count: 0, mem_size_mib: 128 } }).catch((e: Error) => e);
    expect(isAppError(err, "bad_request")).toBe(true);
    expect(String((err as Error).message)).toContain("PUT /machine-config");
  });

  test("snapshot: pause, create, and load on a fresh process with the tap swapped", async () => {
    const api = new FirecrackerApi(join(dir, "fc.sock"));
    await api.sendAll([pause, snapshotCreate("vm.state", "vm.mem"), snapshotLoad("vm.state", "vm.mem", "nmb0ffff01")]);
    const load = server.seen.at(-1)!;
    expect(load.errors).toEqual([]);
    expect(load.body).toMatchObject({ resume_vm: true, network_overrides: [{ iface_id: "eth0", host_dev_name: "nmb0ffff01" }] });
  });
});

const fcStateDir = mkdtempSync(join(tmpdir(), "nimbus-fc-state-"));
const fcProbe = await new FirecrackerDriver({ stateDir: fcStateDir }).probe();

test("probe explains why firecracker cannot run (or that it can)", () => {
  expect(fcProbe.detail.length).toBeGreaterThan(0);
  if (!fcProbe.ok) expect(fcProbe.detail).toMatch(/not found|KVM|vmlinux/);
});

// Registered either way, so a machine that cannot run Firecracker reports the suite as skipped, and why.
runDriverConformance({
  name: "firecracker",
  timeoutMs: 30_000,
  skip: fcProbe.ok ? undefined : fcProbe.detail,
  driver: () => new FirecrackerDriver({ stateDir: fcStateDir, maxMemoryMiB: 512, jobDiskGiB: 2 }),
});

test("jailed: the job's disks are linked into the chroot and owned by the jailer's uid/gid; shared files by path inside it", async () => {
  const root = mkdtempSync(join(tmpdir(), "nimbus-fc-jail-"));
  const asset = (n: string) => (writeFileSync(join(root, n), n), join(root, n));
  const assets = { kernelVersion: "test", kernel: asset("bzImage"), vmlinux: asset("vmlinux"), initramfs: asset("initramfs.cpio"), rootfs: asset("rootfs.ext4") };
  const jailer = { uid: 65534, gid: 65534, chrootBase: join(root, "jail") };
  const d = new FirecrackerDriver({ stateDir: join(root, "state"), assets, jailer, jobDiskGiB: 1 });
  const inst = await d.prepare({ jobId: "jail1", attempt: 1, command: ["true"], env: { SECRET_TOKEN: "x" }, dir: join(root, "job"), requirements: parseLabels(["nimbus"]) });
  const launch = jailedLaunch("/usr/bin/firecracker", inst.name, jailer);
  const plan = d.plan(inst, launch);
  expect(plan).toMatchObject({ kernel: "vmlinux", initramfs: "initramfs.cpio", rootfs: "rootfs.ext4", jobDisk: "job.ext4", configDisk: "config.img" });
  for (const f of ["job.ext4", "config.img"]) expect(statSync(join(launch.root, f))).toMatchObject({ uid: 65534, gid: 65534 });
  expect(statSync(join(launch.root, "config.img")).mode & 0o777).toBe(0o600); // it carries the job's secrets
  await d.destroy(inst);
  expect(existsSync(join(jailer.chrootBase, "firecracker", inst.name))).toBe(false);
  rmSync(root, { recursive: true, force: true });
});
