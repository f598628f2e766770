/**
 * The docker shape (issue 13, part 2): VMs for `docker` jobs whose dockerd is started before they
 * wait. A snapshot template of the docker shape boots the ci image with dockerd running (data-root
 * on its job disk) before it is taken; the warm pool's `2c4g+docker` VMs are restored from it. A
 * docker job that takes such a VM, and one restored from the snapshot directly, find `docker info`
 * ok at once, pull an image from a local registry on the agent's host (the gateway: an insecure
 * registry the running daemon takes on by a configuration reload), run it with `docker run --rm`,
 * and reach a container's published port on 127.0.0.1 and on the address the guest got after the
 * restore; the guest's clock is the host's. A job without docker does not take the docker VM.
 * Docker Hub pulls go through Nimbus's registry as the daemon's registry-mirrors endpoint (its
 * pull-through mirror, with the local registry standing in for Docker Hub): a second job's pull is
 * served from the mirror's cache with the upstream stopped.
 *
 * SLOW: under software emulation here (one template boot with dockerd, 30-50 s, two restores, ~2 min in all); the
 * ci image is built once per inputs digest into its cache (test/vm/ci-image.ts). The network lives
 * in namespaces this test makes (private test addresses; test/vm/netns.ts). Needs root.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuDriver } from "../../agent/drivers/qemu/driver.ts";
import type { QemuDriverOptions } from "../../agent/drivers/qemu/options.ts";
import { SnapshotPool } from "../../agent/drivers/qemu/snapshot-pool.ts";
import { HostNetwork } from "../../agent/net/network.ts";
import { parseWarmClasses } from "../../src/agents/warm-schedule.ts";
import { parseLabels } from "../../src/jobs/labels.ts";
import { capture } from "../drivers/conformance.ts";
import { ciImage } from "./ci-image.ts";
import { pushLayout, startRegistry, writeOciLayout } from "./fixtures/oci.ts";
import { NetWorld } from "./netns.ts";
import { encodeGuestConfig } from "../../agent/guest/host/config.ts";
import { dockerMirror } from "../../agent/registry-auth.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-docker-warm-"));
const world = new NetWorld();
const owner = `dockerwarm${process.pid}`;
const dockerReq = parseLabels(["nimbus", "docker"]);
let net: HostNetwork;
let registry: Awaited<ReturnType<typeof startRegistry>>;
let ci: string;
let snapshots: SnapshotPool;
/** Nimbus's registry (with its nats-server) in the host namespace, mirroring `registry` as Docker Hub. */
let nimbusRegistry: { port: number; stop: () => Promise<void> };
const MIRROR_PORT = 20000 + Math.floor(Math.random() * 20000);
const drivers: QemuDriver[] = [];

async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["sh", "-ec", script], { stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(script);
}

function options(sub: string, extra: Partial<QemuDriverOptions> = {}): QemuDriverOptions {
  return { stateDir: join(dir, sub), owner, maxVcpus: 1, maxMemoryMiB: 1024, jobDiskGiB: 2, accel: "tcg", rootfs: async () => ci, network: net, netns: world.hostNs, snapshots, ...extra };
}

beforeAll(async () => {
  ci = (await ciImage(dir)).path;
  await world.create();
  registry = await startRegistry(join(dir, "registry"), { netns: world.hostNs });
  nimbusRegistry = await startNimbusRegistry(registry.port);
  net = new HostNetwork({ dbPath: join(dir, "net.sqlite"), bridge: `nmbg${world.tag}`, subnet: "10.88.0.0/24", policy: { hostPorts: [{ port: registry.port }, { port: MIRROR_PORT }] }, netns: world.hostNs });
  await net.setup();
  // A small image, only local content: static busybox and a page for its httpd, as an OCI layout pushed with skopeo.
  const layer = join(dir, "layer");
  await sh(`mkdir -p ${layer}/bin ${layer}/www && cp /bin/busybox ${layer}/bin/ && echo "hello from a container" > ${layer}/www/index.html`);
  await writeOciLayout(join(dir, "layout"), "1", [layer]);
  await pushLayout(join(dir, "layout"), "1", `${registry.host}/nimbus/web:1`, world.hostNs);
  // The same image as a Docker Hub official image, library/nimbusweb, on the upstream the mirror serves.
  await pushLayout(join(dir, "layout"), "1", `${registry.host}/library/nimbusweb:1`, world.hostNs);
  snapshots = new SnapshotPool({ dir: join(dir, "snapshots"), jobDiskGiB: 2 });
  const t0 = performance.now();
  await snapshots.prepare(await new QemuDriver(options("tpl")).planFor(dockerReq, ci));
  console.log(`docker shape: snapshot template (cold boot + dockerd ready, TCG) ${Math.round(performance.now() - t0)} ms`);
}, 30 * 60_000);

/** nats-server (the registry's token ledger) and Nimbus's registry in the host namespace, the registry on every address there. */
async function startNimbusRegistry(upstreamPort: number) {
  const inNs = (argv: string[]) => ["ip", "netns", "exec", world.hostNs, ...argv];
  const natsPort = MIRROR_PORT + 1;
  const nats = Bun.spawn(inNs(["nats-server", "-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(dir, "nats")]), { stdout: "ignore", stderr: "ignore" });
  const reg = Bun.spawn(inNs([process.execPath, "run", join(import.meta.dir, "../../src/registry/main.ts")]), {
    stdout: "ignore",
    stderr: "pipe",
    env: {
      ...process.env, NIMBUS_REGISTRY_HOST: "0.0.0.0", NIMBUS_REGISTRY_PORT: String(MIRROR_PORT), NIMBUS_REGISTRY_DIR: join(dir, "nimbus-registry"),
      NIMBUS_AUTH_SECRET: "docker-mirror-test-secret-0123456789abcdef", NIMBUS_NATS_URL: `nats://127.0.0.1:${natsPort}`,
      NIMBUS_REGISTRY_UPSTREAMS: `dockerhub=http://127.0.0.1:${upstreamPort}`, NIMBUS_REGISTRY_MIRROR_DEFAULT: "dockerhub", NIMBUS_REGISTRY_MIRROR_ANONYMOUS: "true",
    },
  });
  const up = () => Bun.spawn(inNs(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${MIRROR_PORT}/v2/`]), { stdout: "pipe", stderr: "ignore" });
  for (let i = 0; ; i++) {
    const p = up();
    if (["200", "401"].includes((await new Response(p.stdout).text()).trim())) break;
    if (i > 600 || reg.exitCode !== null) throw new Error(`Nimbus's registry did not start: ${await new Response(reg.stderr).text()}`);
    await Bun.sleep(50);
  }
  return { port: MIRROR_PORT, stop: async () => void (reg.kill(), nats.kill(), await reg.exited, await nats.exited) };
}

afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  await nimbusRegistry?.stop();
  await registry?.stop();
  await world.destroy();
  net?.store.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

/**
 * The job: `docker info` at once, then pull and run, a published port, the clock. Prints one
 * line per check; the test compares them.
 */
function dockerScript(): string {
  const image = `${net.gateway}:${registry.port}/nimbus/web:1`;
  return [
    "set -e",
    "docker info --format 'info {{.Driver}} {{.DockerRootDir}}'",
    // The daemon ran before this job's config came (it was reloaded for the job's gateway, once), not started for it.
    "echo \"daemon started $(grep -c 'API listen on' /var/log/dockerd.log) time(s), reloaded $(grep -c 'Reloaded configuration' /var/log/dockerd.log) time(s)\"",
    `docker pull -q ${image} > /dev/null && echo pulled`,
    `docker run --rm ${image} /bin/busybox echo run-rm-ok`,
    `docker run -d --name web -p 8080:80 ${image} /bin/busybox httpd -f -p 80 -h /www > /dev/null`,
    "ip=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)",
    "for a in 127.0.0.1 $ip; do i=0; until r=$(curl -sf http://$a:8080/); do i=$((i+1)); [ $i -lt 50 ] || exit 7; sleep 0.2; done; echo \"port $([ $a = 127.0.0.1 ] && echo loopback || echo eth0): $r\"; done",
    "docker rm -f web > /dev/null",
    "echo clock $(date +%s)",
  ].join("\n");
}

async function runDockerJob(driver: QemuDriver, jobId: string) {
  const spec = { jobId, attempt: 1, command: ["bash", "-c", dockerScript()], env: {}, dir: join(dir, jobId), requirements: dockerReq };
  const inst = await driver.prepare(spec);
  const out = capture();
  const t0 = performance.now();
  const exec = await driver.start(inst, spec, out.sink);
  const res = await exec.exited;
  const ms = Math.round(performance.now() - t0);
  await driver.destroy(inst);
  const lines = out.text("out").trim().split("\n");
  const clock = Number(lines.find((l) => l.startsWith("clock "))?.slice(6));
  return { inst, ms, code: res.exitCode, lines: lines.filter((l) => !l.startsWith("clock ")), err: out.text("err"), sys: out.text("sys"), clockSkewS: Math.abs(clock - Date.now() / 1000) };
}

const EXPECTED = ["info overlay2 /var/lib/docker", "daemon started 1 time(s), reloaded 1 time(s)", "pulled", "run-rm-ok", "port loopback: hello from a container", "port eth0: hello from a container"];

test("a docker job takes a 2c4g+docker warm VM (restored from the docker snapshot): dockerd is ready, pulls from the local registry, runs, publishes a port; a job without docker does not take that VM", async () => {
  const driver = new QemuDriver(options("pool", { warmPool: { classes: parseWarmClasses("2c4g+docker=1..1") } }));
  drivers.push(driver);
  expect((await driver.probe()).detail).toContain("warm pool 2c4g+docker=1..1");
  await driver.warm!.settled();
  expect(driver.warm!.stats()[0]).toMatchObject({ class: "2c4g+docker", idle: 1 });

  // Another shape: a job without docker prepares a cold VM of its own (nothing is booted here).
  const plain = { jobId: "nodocker", attempt: 1, command: ["true"], env: {}, dir: join(dir, "nodocker"), requirements: parseLabels(["nimbus"]) };
  const plainInst = await driver.prepare(plain);
  expect(plainInst.meta.warmVm).toBeUndefined();
  expect(plainInst.meta.docker).toBeUndefined();
  expect(driver.warm!.stats()[0]!.idle).toBe(1);
  await driver.destroy(plainInst);

  const r = await runDockerJob(driver, "dockerwarm1");
  console.log(`docker shape: warm take → job done (docker info, pull, run, port) ${r.ms} ms`);
  expect({ code: r.code, lines: r.lines, err: r.err }).toEqual({ code: 0, lines: EXPECTED, err: "" });
  expect(r.inst.meta.warmVm).toStartWith("nimbus-warm-");
  expect(r.clockSkewS).toBeLessThan(60);
  await driver.close();
}, 15 * 60_000);

test("a docker job restored from the docker snapshot (no pool): dockerd is ready, pulls, runs, publishes a port on the address given after the restore", async () => {
  const driver = new QemuDriver(options("restore"));
  drivers.push(driver);
  const r = await runDockerJob(driver, "dockersnap1");
  console.log(`docker shape: snapshot restore → job done (docker info, pull, run, port) ${r.ms} ms`);
  expect({ code: r.code, lines: r.lines, err: r.err }).toEqual({ code: 0, lines: EXPECTED, err: "" });
  expect(r.inst.meta.snapshot).toBeDefined();
  expect(r.inst.meta.warmVm).toBeUndefined();
  expect(r.clockSkewS).toBeLessThan(60);
}, 15 * 60_000);

test("a docker job's daemon pulls Docker Hub images through Nimbus's mirror: the second job's pull is served with the upstream gone", async () => {
  const driver = new QemuDriver(options("mirror"));
  drivers.push(driver);
  const mirror = dockerMirror(`${net.gateway}:${nimbusRegistry.port}`, true, true)!;
  const script = [
    "set -e",
    "grep -o '\"registry-mirrors\": \\[[^]]*\\]' /etc/nimbus/dockerd.json",
    "t0=$(date +%s%N)",
    "docker pull -q nimbusweb:1 > /dev/null",
    "echo pull-ms $(( ($(date +%s%N) - t0) / 1000000 ))",
    "docker run --rm nimbusweb:1 /bin/busybox echo from-the-mirror",
  ].join("\n");
  const pull = async (jobId: string) => {
    const spec = { jobId, attempt: 1, command: ["bash", "-c", script], env: {}, dir: join(dir, jobId), requirements: dockerReq, guest: { registryMirror: mirror } };
    const inst = await driver.prepare(spec);
    const out = capture();
    const res = await (await driver.start(inst, spec, out.sink)).exited;
    await driver.destroy(inst);
    const lines = out.text("out").trim().split("\n");
    return { code: res.exitCode, err: out.text("err"), ms: Number(lines.find((l) => l.startsWith("pull-ms "))?.slice(8)), lines: lines.filter((l) => !l.startsWith("pull-ms ")) };
  };
  const want = { code: 0, err: "", lines: [`"registry-mirrors": ["${mirror}"]`, "from-the-mirror"] };
  const first = await pull("mirror1");
  expect({ code: first.code, err: first.err, lines: first.lines }).toEqual(want);
  // Docker Hub (the stand-in) goes away: the next job's fresh daemon still gets the image, from the mirror's cache.
  await registry.stop();
  const second = await pull("mirror2");
  expect({ code: second.code, err: second.err, lines: second.lines }).toEqual(want);
  console.log(`docker mirror: first pull (through the mirror from the upstream) ${first.ms} ms, second pull (mirror cache, upstream down) ${second.ms} ms (TCG)`);
  expect(second.ms).toBeGreaterThan(0);
}, 15 * 60_000);

test("the mirror line: only for a docker job with a network, and only an http://IP:PORT reaches the guest config", () => {
  expect(dockerMirror("10.88.0.1:7075", true, true)).toBe("http://10.88.0.1:7075");
  expect(dockerMirror("10.88.0.1:7075", false, true)).toBeUndefined();
  expect(dockerMirror("10.88.0.1:7075", true, false)).toBeUndefined();
  expect(dockerMirror(undefined, true, true)).toBeUndefined();
  const base = { hostname: "nimbus-x-1", command: ["true"], env: {} };
  expect(encodeGuestConfig({ ...base, registryMirror: "http://10.88.0.1:7075" })).toContain("\nmirror http://10.88.0.1:7075\n");
  for (const bad of ["https://10.88.0.1:7075", "http://10.88.0.1:7075\nenv Zm9v", "http://mirror.example:80", "http://10.88.0.1"])
    expect(() => encodeGuestConfig({ ...base, registryMirror: bad })).toThrow("guest config mirror must be http://IPV4:PORT");
});
