/**
 * The Actions cache for GitHub jobs with no workflow edits, end to end under software emulation:
 * `nimbus up --vm --vm-network nat` inside a network namespace this test makes, the GitHub
 * simulator beyond it (as in test/e2e/vm-network.test.ts). Workflow jobs with `isolation:vm` run
 * their JIT runner (the stand-in) in microVMs; a step drives the unmodified `@actions/cache` (the npm
 * package, bundled, run by a Node the runner directory ships as the real runner does) with exactly
 * what GitHub's runner gives an action: GitHub's results URL and a GitHub-style runtime token.
 *
 * - job A (branch main) saves an entry: it lands in the Nimbus cache, under the job's repository,
 *   ref and organisation; GitHub's results service hears no cache call;
 * - job B (branch main) restores it byte for byte, then fails (a failing step);
 * - job C (GitHub names no branch: no cache scope, its VM is not bound) runs on the address job
 *   B's VM had, so a binding left behind at B's teardown would hand it B's token: its cache calls
 *   must go to the upstream (the simulator) with GitHub's token, never a Nimbus one, and miss.
 *   From C's VM, the gateway's own port is refused (only 443, redirected to it, reaches it), as
 *   are NATS and the control plane.
 *
 * The test rootfs is busybox: the runner directory also carries GNU tar (what @actions/cache
 * runs) and the libraries tar and Node need, on PATH/LD_LIBRARY_PATH of the steps.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { waitFor } from "../support/net.ts";
import { buildRunnerStandIn } from "../github-sim/build.ts";
import { startGithubSim, type GithubSim, type SimJob } from "../github-sim/sim.ts";
import type { JobRecord } from "../../src/jobs/record.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const NS = `nimbus-rgw-${process.pid}`;
const BASE = 7800;
const GATEWAY_PORT = BASE + 20;
const GW = "10.88.0.1";
const inNs = (argv: string[]) => ["ip", "netns", "exec", NS, ...argv];
const NET = `198.19.${(process.pid % 250) + 1}`;
const VETH = `nrg${process.pid % 100000}`;
let dir: string;
let runnerDir: string;
let up: ReturnType<typeof Bun.spawn>;
let upOut = "";
let sim: GithubSim;

function must(argv: string[]): void {
  const r = Bun.spawnSync(argv, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
}

/** The runner directory: the stand-in, Node and the bundled @actions/cache driver, GNU tar, their libraries. */
async function makeRunnerDir(): Promise<string> {
  const d = mkdtempSync(join(tmpdir(), "nimbus-rgw-runner-"));
  Bun.spawnSync(["chmod", "755", d]);
  await buildRunnerStandIn(d);
  mkdirSync(join(d, "bin"));
  mkdirSync(join(d, "lib"));
  copyFileSync(Bun.which("node")!, join(d, "bin/node"));
  copyFileSync(Bun.which("tar")!, join(d, "bin/tar"));
  Bun.spawnSync(["chmod", "755", join(d, "bin/node"), join(d, "bin/tar")]);
  for (const bin of ["node", "tar"]) {
    const libs = Bun.spawnSync(["ldd", Bun.which(bin)!]).stdout.toString().split("\n").map((l) => /=> (\/\S+)/.exec(l)?.[1]).filter((l): l is string => !!l);
    for (const l of libs) copyFileSync(l, join(d, "lib", l.split("/").pop()!));
  }
  const built = Bun.spawnSync([process.execPath, "build", resolve(import.meta.dir, "../cache/support/driver.mjs"), "--target=node", "--format=esm", "--outfile", join(d, "cache-driver.mjs")], { stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`bundling @actions/cache: ${built.stderr}`);
  return d;
}

beforeAll(async () => {
  [runnerDir] = await Promise.all([makeRunnerDir(), ensureVmAssets()]);
  must(["ip", "netns", "add", NS]);
  must(inNs(["ip", "link", "set", "lo", "up"]));
  must(["ip", "link", "add", VETH, "type", "veth", "peer", "name", `${VETH}n`]);
  must(["ip", "link", "set", `${VETH}n`, "netns", NS]);
  must(["ip", "addr", "add", `${NET}.2/30`, "dev", VETH]);
  must(["ip", "link", "set", VETH, "up"]);
  must(inNs(["ip", "addr", "add", `${NET}.1/30`, "dev", `${VETH}n`]));
  must(inNs(["ip", "link", "set", `${VETH}n`, "up"]));
  sim = await startGithubSim({ webhookUrl: `http://${NET}.1:${BASE}/webhooks/github`, host: `${NET}.2`, assignment: "fifo" });
  dir = mkdtempSync(join(tmpdir(), "nimbus-rgw-"));
  up = Bun.spawn(inNs([BIN, "up", "--vm", "--vm-image", "none", "--vm-network", "nat", "--data-dir", dir, "--port-base", String(BASE)]), {
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      NIMBUS_VM_ACCEL: "tcg",
      NIMBUS_CONTROL_HOST: "0.0.0.0",
      NIMBUS_GITHUB_WEBHOOK_SECRET: sim.secret,
      NIMBUS_GITHUB_APP_ID: sim.appId,
      NIMBUS_GITHUB_APP_PRIVATE_KEY: sim.privateKeyPem,
      NIMBUS_GITHUB_API_URL: sim.url,
      NIMBUS_GITHUB_RUNNER_DIR: runnerDir,
      // GitHub's results service is the simulator here; the gateway's port is fixed so a guest can try it directly.
      NIMBUS_AGENT_RESULTS_UPSTREAM_URL: sim.url,
      NIMBUS_AGENT_RESULTS_GATEWAY_PORT: String(GATEWAY_PORT),
    },
  });
  for (const s of [up.stdout, up.stderr] as unknown as AsyncIterable<Uint8Array>[])
    (async () => {
      for await (const c of s) upOut += new TextDecoder().decode(c);
    })();
  await waitFor(() => upOut.includes("Nimbus is up") || up.exitCode !== null, 180_000, "nimbus up --vm in the namespace");
  expect(up.exitCode).toBeNull();
}, 300_000);

afterAll(async () => {
  up?.kill("SIGINT");
  await up?.exited;
  await sim?.stop();
  Bun.spawnSync(["ip", "netns", "del", NS]);
  Bun.spawnSync(["ip", "link", "del", VETH]);
  rmSync(dir, { recursive: true, force: true });
  rmSync(runnerDir, { recursive: true, force: true });
}, 60_000);

/** Every service's and agent's log (nimbus up writes them under its data directory). */
const serviceLogs = () => readdirSync(join(dir, "logs")).map((f) => readFileSync(join(dir, "logs", f), "utf8")).join("\n");

const cli = (args: string[]) => Bun.spawnSync(inNs([BIN, ...args, "--data-dir", dir]), { stdout: "pipe", stderr: "pipe" });

/** A step running the unmodified @actions/cache as an action would, with the runner's environment. */
const cacheStep = (req: Record<string, unknown>) => `PATH=/runner/bin:$PATH LD_LIBRARY_PATH=/runner/lib node /runner/cache-driver.mjs '${JSON.stringify(req)}'`;

async function finished(ghJob: SimJob): Promise<{ job: JobRecord; logs: string }> {
  const id = `gh-${ghJob.id}`;
  let job: JobRecord | undefined;
  await waitFor(() => {
    const r = cli(["jobs", "show", id, "--json"]);
    job = r.exitCode === 0 ? (JSON.parse(r.stdout.toString()) as { job: JobRecord }).job : undefined;
    return ["succeeded", "failed", "cancelled", "timed_out"].includes(job?.state ?? "");
  }, 400_000, `GitHub job ${id} to finish`, 500);
  const logs = cli(["logs", id]).stdout.toString();
  if (job!.state !== "succeeded" && !logs.includes("exit 3")) console.error(`job ${id}: ${job!.state} ${job!.reason ?? ""}\n${logs}`);
  return { job: job!, logs };
}

const VM = ["self-hosted", "nimbus", "isolation:vm"];
const digestIn = (logs: string, tag: string) => new RegExp(`${tag} ([0-9a-f]{64})`).exec(logs)?.[1];
const ipIn = (logs: string) => /vm ip (\S+)/.exec(logs)?.[1];
const SHOW_IP = "ip -4 -o addr show eth0 | awk '{print \"vm ip \" $4}'";
const resultIn = (logs: string) => JSON.parse(/NIMBUS_RESULT (.*)/.exec(logs)?.[1] ?? '{"result":"no result line"}').result;

test("a GitHub job's unmodified actions/cache saves to Nimbus through the gateway; a second job restores it byte for byte; an unbound VM goes to GitHub", async () => {
  await waitFor(() => /results gateway (listening|not started)/.test(serviceLogs()), 60_000, "the agent's results gateway");
  expect(serviceLogs()).toContain("results gateway listening");
  const a = sim.queueJob({ labels: VM, steps: [
    SHOW_IP,
    "mkdir -p deps && head -c 300000 /dev/urandom > deps/blob && echo \"made $(sha256sum deps/blob | cut -c1-64)\"",
    `echo "results url $ACTIONS_RESULTS_URL"; ${cacheStep({ op: "save", paths: ["deps"], key: "gw-e2e-1" })}`,
  ] });
  const first = await finished(a);
  expect(first.job.state).toBe("succeeded");
  expect(first.job.cache).toEqual({ repo: "octo-org/octo-repo", ref: "refs/heads/main" });
  expect(first.logs).toContain("results url https://results-receiver.actions.githubusercontent.com/");
  expect(resultIn(first.logs)).toBeGreaterThan(0); // the cache id Nimbus gave it (a failed save is -1)
  const made = digestIn(first.logs, "made");
  expect(made).toBeDefined();
  expect(sim.resultsCalls.filter((c) => c.path.includes("CacheService"))).toEqual([]);

  const list = JSON.parse(cli(["cache", "ls", "--repo", "octo-org/octo-repo", "--json"]).stdout.toString()) as { key: string; scope: string; state: string }[];
  expect(list.map((e) => [e.key, e.scope, e.state])).toEqual([["gw-e2e-1", "refs/heads/main", "ready"]]);
  // In the job's organisation (the App's installation account), not the default one.
  const inOrg = (org: string) => (JSON.parse(cli(["cache", "ls", "--org", org, "--json"]).stdout.toString()) as { key: string }[]).map((e) => e.key);
  expect(inOrg("octo-org")).toEqual(["gw-e2e-1"]);
  expect(inOrg("default")).toEqual([]);

  // B fails after its restore (a failing test step): its teardown must unbind all the same.
  const b = sim.queueJob({ labels: VM, steps: [SHOW_IP, `${cacheStep({ op: "restore", paths: ["deps"], key: "gw-e2e-2", restoreKeys: ["gw-e2e-"] })} && echo "got $(sha256sum deps/blob | cut -c1-64)"`, "exit 3"] });
  const second = await finished(b);
  expect(second.job.state).toBe("failed");
  expect(resultIn(second.logs)).toBe("gw-e2e-1");
  expect(digestIn(second.logs, "got")).toBe(made!);

  const c = sim.queueJob({ labels: VM, branch: null, steps: [
    SHOW_IP,
    cacheStep({ op: "restore", paths: ["deps"], key: "gw-e2e-2", restoreKeys: ["gw-e2e-"] }),
    `for p in 443 ${GATEWAY_PORT} ${BASE + 2} ${BASE}; do echo | timeout 5 nc ${GW} $p >/dev/null 2>&1 && echo "port $p open" || echo "port $p refused"; done`,
  ] });
  const third = await finished(c);
  expect(third.job.state).toBe("succeeded");
  expect(ipIn(second.logs)).toBeDefined();
  expect(ipIn(third.logs)).toBe(ipIn(second.logs)!); // the premise: C's VM has the address B's was bound at
  expect(third.job.cache).toBeUndefined();
  expect(resultIn(third.logs)).toBeNull(); // GitHub (the simulator) has no such entry
  for (const line of [`port 443 open`, `port ${GATEWAY_PORT} refused`, `port ${BASE + 2} refused`, `port ${BASE} refused`]) expect(third.logs).toContain(line);
  const toGithub = sim.resultsCalls.filter((x) => x.path.includes("CacheService"));
  expect(toGithub.length).toBeGreaterThan(0);
  // Only GitHub's own token ever reaches GitHub: never a Nimbus runtime token (those are Nimbus-issued JWTs).
  const cToken = [...sim.jobs.values()].find((j) => j.id === c.id)!.runtime_token;
  expect(toGithub.every((x) => x.auth === `Bearer ${cToken}`)).toBe(true);
  // Nothing logged a token: neither GitHub's nor the Nimbus one.
  const logs = upOut + serviceLogs();
  for (const j of [a, b, c]) expect(logs).not.toContain(j.runtime_token);
  expect(logs).not.toMatch(/Bearer ey/);
  expect(logs).toContain("results gateway: VM not bound"); // job C
}, 900_000);
