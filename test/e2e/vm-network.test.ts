/**
 * `nimbus up --vm` with guest networking, the whole stack inside a network namespace this test
 * makes: a VM job gets the Actions cache environment, reaches the cache on its gateway with a token
 * the cache accepts, and is refused the host's NATS and admin ports and the metadata address.
 *
 * GitHub (the simulator) sits beyond the host: in this test's own namespace, joined to the stack's
 * by a veth pair, so the stack reaches it as it would reach the internet and a guest reaches it
 * through the bridge's NAT. A workflow job with `isolation:vm` runs its JIT runner (the stand-in,
 * a dynamically linked executable mounted read-only at /runner) inside a microVM.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { waitFor } from "../support/net.ts";
import { buildRunnerStandIn } from "../github-sim/build.ts";
import { startGithubSim, type GithubSim } from "../github-sim/sim.ts";
import type { JobRecord } from "../../src/jobs/record.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const NS = `nimbus-e2e-${process.pid}`;
const BASE = 7700;
const inNs = (argv: string[]) => ["ip", "netns", "exec", NS, ...argv];
/** The link between the stack's namespace (.1) and this test's, where the simulator listens (.2). */
const NET = `198.18.${(process.pid % 250) + 1}`;
const VETH = `nve${process.pid % 100000}`;
const RUNNER_DIR = join(tmpdir(), "nimbus-gh-runner-standin");
let dir: string;
let up: ReturnType<typeof Bun.spawn>;
let sim: GithubSim;

function must(argv: string[]): void {
  const r = Bun.spawnSync(argv, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
}

beforeAll(async () => {
  await Promise.all([ensureVmAssets(), buildRunnerStandIn(RUNNER_DIR)]);
  must(["ip", "netns", "add", NS]);
  must(inNs(["ip", "link", "set", "lo", "up"]));
  must(["ip", "link", "add", VETH, "type", "veth", "peer", "name", `${VETH}n`]);
  must(["ip", "link", "set", `${VETH}n`, "netns", NS]);
  must(["ip", "addr", "add", `${NET}.2/30`, "dev", VETH]);
  must(["ip", "link", "set", VETH, "up"]);
  must(inNs(["ip", "addr", "add", `${NET}.1/30`, "dev", `${VETH}n`]));
  must(inNs(["ip", "link", "set", `${VETH}n`, "up"]));
  sim = await startGithubSim({ webhookUrl: `http://${NET}.1:${BASE}/webhooks/github`, host: `${NET}.2`, assignment: "fifo" });
  dir = mkdtempSync(join(tmpdir(), "nimbus-vmnet-"));
  let out = "";
  up = Bun.spawn(inNs([BIN, "up", "--vm", "--vm-image", "none", "--vm-network", "nat", "--data-dir", dir, "--port-base", String(BASE)]), {
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      NIMBUS_VM_ACCEL: "tcg",
      // The simulator delivers webhooks over the veth: the control plane listens beyond loopback.
      NIMBUS_CONTROL_HOST: "0.0.0.0",
      NIMBUS_GITHUB_WEBHOOK_SECRET: sim.secret,
      NIMBUS_GITHUB_APP_ID: sim.appId,
      NIMBUS_GITHUB_APP_PRIVATE_KEY: sim.privateKeyPem,
      NIMBUS_GITHUB_API_URL: sim.url,
      NIMBUS_GITHUB_RUNNER_DIR: RUNNER_DIR,
    },
  });
  (async () => {
    for await (const c of up.stdout as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  await waitFor(() => out.includes("Nimbus is up") || up.exitCode !== null, 120_000, "nimbus up --vm in the namespace");
  expect(up.exitCode).toBeNull();
}, 300_000);

afterAll(async () => {
  up?.kill("SIGINT");
  await up?.exited;
  await sim?.stop();
  Bun.spawnSync(["ip", "netns", "del", NS]); // takes the veth pair with it
  Bun.spawnSync(["ip", "link", "del", VETH]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const GUEST_SCRIPT = `
u=\${ACTIONS_RESULTS_URL#http://}; hp=\${u%/}; h=\${hp%:*}; p=\${hp#*:}
echo "cache at $h:$p v2=$ACTIONS_CACHE_SERVICE_V2"
# The first packets may race the tap joining the bridge: wait for the cache like a job would.
for i in 1 2 3 4 5 6 7 8 9 10; do
  r=$( (printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n'; sleep 1) | timeout 5 nc $h $p | head -n 1)
  [ -n "$r" ] && break
  echo "try $i: no answer" >&2; sleep 1
done
echo "$r"
body='{"key":"nope","restoreKeys":[],"version":"v1"}'
# busybox nc may quit at the end of its input, before the answer: keep the input open a while.
(printf 'POST /twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL HTTP/1.0\\r\\nAuthorization: Bearer %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "$ACTIONS_RUNTIME_TOKEN" \${#body} "$body"; sleep 3) | timeout 8 nc $h $p | head -n 1
echo | timeout 3 nc $h ${BASE + 2} >/dev/null 2>&1 && echo "nats open" || echo "nats refused"
echo | timeout 3 nc $h ${BASE} >/dev/null 2>&1 && echo "control open" || echo "control refused"
echo | timeout 3 nc 169.254.169.254 80 >/dev/null 2>&1 && echo "metadata open" || echo "metadata refused"
`;

test("a VM job reaches the cache with its token and nothing else of the host", () => {
  const r = Bun.spawnSync(inNs([BIN, "run", "--data-dir", dir, "--isolation", "vm", "--timeout", "120", "--", "sh", "-c", GUEST_SCRIPT]), { stdout: "pipe", stderr: "pipe", timeout: 180_000 });
  const lines = r.stdout.toString().trim().split("\n").map((l) => l.trim());
  if (lines.length !== 6) console.error("guest stdout:", r.stdout.toString(), "stderr:", r.stderr.toString());
  expect(lines[0]).toBe(`cache at 10.88.0.1:${BASE + 4} v2=true`);
  expect(lines[1]).toMatch(/^HTTP\/1\.[01] 200/); // healthz
  expect(lines[2]).toMatch(/^HTTP\/1\.[01] 200/); // the job's token is accepted (a miss, not a 401)
  expect(lines.slice(3)).toEqual(["nats refused", "control refused", "metadata refused"]);
  expect(r.exitCode).toBe(0);
  expect(r.stderr.toString()).not.toContain("eyJ"); // the token is never printed
}, 200_000);

const cli = (args: string[]) => Bun.spawnSync(inNs([BIN, ...args, "--data-dir", dir]), { stdout: "pipe", stderr: "pipe" });

test("a GitHub workflow job runs its JIT runner inside a microVM and completes", async () => {
  const ghJob = sim.queueJob({ labels: ["self-hosted", "nimbus", "isolation:vm"], steps: ["echo runner-in-$(hostname)", "cat /etc/nimbus-image", "echo uid=$(id -u)"] });
  const id = `gh-${ghJob.id}`;
  let job: JobRecord | undefined;
  await waitFor(() => {
    const r = cli(["jobs", "show", id, "--json"]);
    job = r.exitCode === 0 ? (JSON.parse(r.stdout.toString()) as { job: JobRecord }).job : undefined;
    return ["succeeded", "failed", "cancelled", "timed_out"].includes(job?.state ?? "");
  }, 150_000, "the GitHub job to finish");
  expect(job).toMatchObject({ state: "succeeded", pool: "x64.vm.2c4g" });
  expect(ghJob).toMatchObject({ status: "completed", conclusion: "success", runner_name: `nimbus-${id}-1` });
  const logs = cli(["logs", id]).stdout.toString();
  // The steps ran in the guest: its hostname is the instance's, its root the test image's, as the job user.
  expect(logs).toContain(`runner-in-nimbus-${id}-1`);
  expect(logs).toContain("nimbus-test");
  expect(logs).toContain("uid=1000");
  expect(logs).not.toContain(sim.secret);
  // Only this stack's QEMU counts (its sockets live under this data dir): another test's simulator
  // numbers its jobs the same way, so a bare `guest=nimbus-gh-1000-` could match a VM of theirs.
  const left = () => ({ runners: [...sim.runners.keys()], vms: Bun.spawnSync(["pgrep", "-af", `guest=nimbus-${id}-.*${dir}`]).stdout.toString().trim() });
  await waitFor(() => { const l = left(); return l.runners.length === 0 && !l.vms; }, 60_000, "no runner or VM left").catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(left())}`);
  });
}, 200_000);

test("nimbus up --vm --demo: the simulated workflow job's runner runs in a microVM", async () => {
  const ns = `${NS}-demo`;
  must(["ip", "netns", "add", ns]);
  const demoDir = mkdtempSync(join(tmpdir(), "nimbus-vmdemo-"));
  try {
    must(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    const p = Bun.spawn(["ip", "netns", "exec", ns, BIN, "up", "--vm", "--vm-image", "none", "--vm-network", "nat", "--demo", "--exit-after-sample", "--data-dir", demoDir, "--port-base", String(BASE + 10)], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NIMBUS_VM_ACCEL: "tcg" },
    });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    if (code !== 0) console.error(out, err);
    expect(out).toContain("runs-on: self-hosted, nimbus, isolation:vm");
    expect(out).toContain("steps run as shell commands in a fresh microVM");
    expect(out).toMatch(/GitHub says: completed \(success\); Nimbus job gh-\d+: succeeded/);
    expect(code).toBe(0);
  } finally {
    Bun.spawnSync(["ip", "netns", "del", ns]);
    rmSync(demoDir, { recursive: true, force: true });
  }
}, 240_000);
