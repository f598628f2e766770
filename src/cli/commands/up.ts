import { isCompiled } from "../../core/binaries.ts";
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { BUILD_COMMAND, DEFAULT_ASSETS_DIR } from "../../vm/assets.ts";
import { DEFAULT_VM_SUBNET, gatewayOf, parseCidr } from "../../vm/subnet.ts";
import { AppError } from "../../core/errors.ts";
import { startStack, ports, type Stack } from "../../up/supervisor.ts";
import { CLUSTER_SIZES, portSpan } from "../../up/nats-nodes.ts";
import { defaultDataDir, isAlive, readState, stateFile, writeState } from "../../up/state.ts";
import { quoteArg } from "../../core/shell.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";
import { ApiClient } from "../client.ts";
import { followJobLogs } from "./logs.ts";
import { agentImages, BUILTIN_IMAGES_FILE } from "./images.ts";
import { exitCodeOf, waitTerminal } from "./run.ts";
import { startGithubDemo, type GithubDemo } from "../../../test/github-sim/demo.ts";
import { startGiteaDemo, type GiteaDemo } from "../../../test/gitea-sim/demo.ts";
import type { JobRecord } from "../../jobs/record.ts";

const SAMPLE = [
  "sh",
  "-c",
  'echo "hello from Nimbus job $NIMBUS_JOB_NAME"; echo "running as $(id -un) in $(pwd) on $(cat /proc/sys/kernel/hostname)"; ' +
    'echo "network: $(cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | tr "\\n" " ")"; ' +
    "touch /usr/nimbus-probe 2>/dev/null && echo 'root is writable' || echo 'root filesystem is read-only'; echo done",
];

/** The microVM boot assets: found, or built by the one command that builds them. */
async function ensureVmAssets(ctx: CliContext): Promise<void> {
  if (existsSync(join(DEFAULT_ASSETS_DIR, "manifest.json"))) return;
  if (isCompiled()) throw new AppError("unavailable", `no VM assets in ${DEFAULT_ASSETS_DIR}: build them in a Nimbus checkout (${BUILD_COMMAND}) and copy artifacts/vm there, or set NIMBUS_VM_ASSETS_DIR`);
  ctx.err(`nimbus up: building VM assets (kernel, initramfs, rootfs) into ${DEFAULT_ASSETS_DIR}: ${BUILD_COMMAND}`);
  const p = Bun.spawn([process.execPath, "run", resolve(import.meta.dir, "../../../scripts/vm/build-assets.ts")], { stdout: "ignore", stderr: "inherit" });
  if ((await p.exited) !== 0) throw new AppError("unavailable", `building the VM assets failed; run \`${BUILD_COMMAND}\` to see why`);
}

/**
 * `--vm-image ci` (the default): VM jobs boot the ci image. Built on first use (progress on
 * stderr) and activated; while ci is the active version each start builds it again, which is a
 * cache hit (hashing) unless its recipe or the guest init changed. Another active version is left
 * as it is. `none`: nothing is built or activated (the active image, else the small test rootfs).
 */
async function ensureCiImage(ctx: CliContext, choice: string): Promise<void> {
  if (choice === "none") return;
  if (choice !== "ci") throw new AppError("bad_request", `--vm-image must be ci or none (got ${choice.slice(0, 40)})`);
  const { active } = await agentImages<{ active: { version: string; digest: string } | null }>(ctx, ["list"]);
  if (active && active.version !== "ci") return void ctx.err(`nimbus up: VM jobs boot the active image ${active.version} (sha256 ${active.digest.slice(0, 12)}), not ci`);
  if (!active) ctx.err("nimbus up: building the ci image for VM jobs (first use: a few minutes; later starts reuse it): nimbus images build ci --activate");
  const built = await agentImages<{ digest: string; cached?: boolean }>(ctx, ["build", "ci", BUILTIN_IMAGES_FILE, "--activate"]);
  ctx.err(`nimbus up: VM jobs boot the ci image (sha256 ${built.digest.slice(0, 12)}${built.cached ? ", cached" : ", just built"})`);
}

async function waitForAgent(api: ApiClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { agents } = await api.get<{ agents: unknown[] }>("/api/agents");
    if (agents.length) return;
    await Bun.sleep(25);
  }
  throw new AppError("unavailable", "no agent registered in time; see the agent log in the data directory's logs/");
}

/**
 * `./bin/nimbus COMMAND [-- ARGS]` with what another terminal needs to reach this stack: its data
 * dir unless it is the default (the state file there holds the ports, so no --port-base is needed).
 */
export function followUp(dataDir: string, command: string, args?: string): string {
  const flag = dataDir === defaultDataDir({}) ? "" : ` --data-dir ${quoteArg(dataDir)}`;
  // From a checkout the wrapper script; the compiled binary names itself.
  const bin = isCompiled() ? quoteArg(process.execPath) : "./bin/nimbus";
  return `${bin} ${command}${flag}${args === undefined ? "" : ` -- ${args}`}`;
}

async function runSample(ctx: CliContext, api: ApiClient): Promise<number> {
  ctx.out("\nrunning a sample job: nimbus run -- sh -c '…'");
  const { job } = await api.post<{ job: JobRecord }>("/api/jobs", { name: "sample", command: SAMPLE, env: { NIMBUS_JOB_NAME: "sample" } });
  await followJobLogs(ctx, api, job.id);
  const final = await waitTerminal(api, job.id);
  ctx.out(`sample job ${final.id}: ${final.state} (exit ${exitCodeOf(final)}) — see it with: ${followUp(ctx.dataDir, `jobs show ${final.id}`)}`);
  return exitCodeOf(final);
}

/** Until the webhook has made the job (at most a minute). */
async function waitCreated(api: ApiClient, id: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = await api.get<{ job: JobRecord }>(`/api/jobs/${id}`).catch(() => null);
    if (r) return;
    await Bun.sleep(100);
  }
}

/** One simulated workflow job from webhook to completion, its runner's output shown. */
async function runDemo(ctx: CliContext, api: ApiClient, demo: GithubDemo): Promise<void> {
  const gh = demo.queueDemoJob();
  ctx.out(`\nGitHub simulator at ${demo.sim.url}: queued workflow job ${gh.id} ("${gh.name}", runs-on: ${gh.labels.join(", ")})`);
  const id = `gh-${gh.id}`;
  await waitCreated(api, id);
  await followJobLogs(ctx, api, id);
  const final = await waitTerminal(api, id);
  ctx.out(`GitHub says: ${gh.status}${gh.conclusion ? ` (${gh.conclusion})` : ""}; Nimbus job ${id}: ${final.state} — ${followUp(ctx.dataDir, `jobs show ${id}`)}`);
}

/** One simulated Gitea job from webhook to completion: registered runner, `.runner` file, act_runner stand-in. */
async function runGiteaDemo(ctx: CliContext, api: ApiClient, demo: GiteaDemo): Promise<void> {
  const j = demo.queueDemoJob();
  ctx.out(`\nGitea simulator at ${demo.sim.url}: queued job ${j.id} ("${j.name}" of ${j.repo}, runs-on: ${j.labels.join(", ")})`);
  const id = `gt-demo-${j.id}`;
  await waitCreated(api, id);
  await followJobLogs(ctx, api, id);
  const final = await waitTerminal(api, id);
  ctx.out(`Gitea says: ${j.status}; Nimbus job ${id}: ${final.state} — ${followUp(ctx.dataDir, `jobs show ${id}`)}`);
}

/** The dashboard with the admin token in the fragment (never sent to the server; the page drops it). */
function dashboardLink(stack: Stack): string {
  return `${stack.controlUrl}/#token=${encodeURIComponent(stack.adminToken)}`;
}

function printUp(ctx: CliContext, stack: Stack, ms: number): void {
  if (ctx.json) {
    ctx.out(JSON.stringify({ dataDir: stack.dataDir, dashboardUrl: dashboardLink(stack), controlUrl: stack.controlUrl, logsUrl: stack.logsUrl, cacheUrl: stack.cacheUrl, registryUrl: stack.registryUrl, natsUrl: stack.natsUrl, adminToken: stack.adminToken, startedInMs: Math.round(ms) }));
    return;
  }
  ctx.out(
    [
      `Nimbus is up (${Math.round(ms)} ms) — data in ${stack.dataDir}`,
      `  dashboard      ${dashboardLink(stack)}`,
      `  control plane  ${stack.controlUrl}`,
      `  log service    ${stack.logsUrl}`,
      `  Actions cache  ${stack.cacheUrl}`,
      `  registry       ${stack.registryUrl} (OCI distribution API)`,
      `  NATS           ${stack.natsUrl}`,
      `  admin token    ${stack.adminToken}`,
      `  service logs   ${stack.dataDir}/logs/`,
      `In another terminal: ${followUp(stack.dataDir, "status")} · ${followUp(stack.dataDir, "run", "echo hi")} · ${followUp(stack.dataDir, "jobs list")}`,
      "Ctrl-C stops everything.",
    ].join("\n"),
  );
}

export const up: Command = {
  name: "up",
  summary: "start the single-host stack (nats-server, control plane, log service, Actions cache, registry, agents)",
  usage: "up [--port-base N] [--agents N] [--nats-cluster 1|3|5] [--nats-auth users|jwt] [--vm] [--vm-image ci|none] [--vm-network nat|offline|none] [--demo [gitea]] [--sample] [--exit-after-sample]",
  details: `Ports: control N, logs N+1, NATS N+2, NATS monitoring N+3, Actions cache N+4, registry N+5 (default N = 7070).
--nats-cluster 3 (or 5) runs a JetStream cluster of that many nats-server nodes on this host instead
of one (to try a fleet's NATS, and to see a node's loss survived): node 1 keeps N+2/N+3, node i ≥ 2
takes N+3i+1 (clients), N+3i+2 (monitoring), N+3i+3 (routes; node 1's is N+6), each node its own
store under <data-dir>/nats/nI; every stream and bucket then has 3 replicas, and every process is
given all the nodes' URLs (NIMBUS_NATS_URL, comma-separated) and reconnects across them.
--nats-auth jwt runs NATS with decentralized auth: nats-server trusts an operator and account (made
once, kept in <data-dir>/nats-trust.json) and lists no users; the services get user JWTs, and each agent
buys a short-lived one (NIMBUS_NATS_USER_TTL_MS) from the control plane with its agent token and renews
it, so revoking the token cuts the agent off NATS within that time. Default users: one user and
password per process in the server's config, rewritten for each new agent.
Two stacks run side by side with different --data-dir and --port-base. The endpoints and an admin
token are written to <data-dir>/state.json so other nimbus commands find the stack. The dashboard
is the control plane's / (the printed link carries the admin token in its fragment).
--vm also runs isolation:vm jobs in QEMU microVMs (KVM when it works, software emulation otherwise),
building the kernel, initramfs and rootfs into artifacts/vm first if they are missing.
--vm-image ci (the default) makes VM jobs boot the Debian ci image (nimbus images build ci): built
and activated on first use, with progress, reused after; when another version is active it stays.
--vm-image none builds nothing: the active image, else the small test rootfs.
--vm-network nat|offline|none: the guests' network (default nat as root, none otherwise). With a
network, guests reach the Actions cache and the registry on their gateway (both then listen on all
addresses; their tokens still guard them) and nothing else of the host; a GitHub job's microVM reaches
the cache as GitHub's results host, through the agent's results-host gateway (docs/cache.md; the
cache then runs with NIMBUS_CACHE_TRUST_FORWARDED=true). Jobs with a network (microVMs,
GitHub runners) get a Docker config.json holding a registry credential for their organisation.
--sample runs a sample job once the stack is up and shows its output.
--demo also starts a GitHub simulator (GitHub cannot be reached from here) wired to the stack, and
sends one workflow job through it: webhook → JIT runner in a sandbox → steps → completed (the
sandbox gets a network namespace of its own on the agent's bridge, which needs root; not as root
the job is refused). Only with
--vm and --vm-network nat (the default as root) does the job ask for isolation:vm, its runner then
running in a microVM (the simulator listens on all addresses; guests reach it on their gateway);
with --vm and another network the runner stays in a sandbox, and up says so.
--demo gitea does the same with a Gitea simulator instead: webhook → the control plane registers an
ephemeral runner → the agent hands a sandbox its .runner file → the act_runner stand-in runs the task
(as root; the sandbox reaches the simulator on the agent's bridge address).
The follow-up commands printed name --data-dir when it is not the default. Ctrl-C (or SIGTERM)
stops every process the stack started, removes the state file and says what it stopped.`,
  options: {
    "port-base": { type: "string" },
    agents: { type: "string" },
    "nats-cluster": { type: "string" },
    "nats-auth": { type: "string" },
    vm: { type: "boolean" },
    "vm-image": { type: "string" },
    "vm-network": { type: "string" },
    demo: { type: "boolean" },
    sample: { type: "boolean" },
    "exit-after-sample": { type: "boolean" },
  },
  positionals: { min: 0, max: 1, name: "DEMO" },
  async run(ctx, v, positionals = []) {
    const demoKind = positionals[0];
    if (demoKind !== undefined && (demoKind !== "gitea" || !v.demo)) throw new AppError("bad_request", `unexpected argument "${demoKind}" (up takes only --demo gitea)`);
    const portBase = Number(v["port-base"] ?? ctx.env.NIMBUS_PORT_BASE ?? 7070);
    if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65530) throw new AppError("bad_request", "--port-base must be a whole number from 1024 to 65530");
    const agents = Number(v.agents ?? 1);
    const natsCluster = Number(v["nats-cluster"] ?? 1);
    if (!(CLUSTER_SIZES as readonly number[]).includes(natsCluster)) throw new AppError("bad_request", "--nats-cluster must be 1, 3 or 5 (nodes on this host)");
    const natsAuth = String(v["nats-auth"] ?? "users");
    if (natsAuth !== "users" && natsAuth !== "jwt") throw new AppError("bad_request", "--nats-auth must be users or jwt");
    if (portBase + portSpan(natsCluster) > 65535) throw new AppError("bad_request", `--port-base ${portBase} leaves no room for ${natsCluster} NATS nodes' ports`);
    const prior = readState(ctx.dataDir);
    if (prior && isAlive(prior.pid) && prior.pid !== process.pid)
      throw new AppError("conflict", `a stack is already running from ${ctx.dataDir} (pid ${prior.pid}); stop it first or use another --data-dir`);
    const agentEnv: Record<string, string> = {};
    const cacheEnv: Record<string, string> = {};
    const registryEnv: Record<string, string> = {};
    if (v.vm) {
      await ensureVmAssets(ctx);
      await ensureCiImage(ctx, String(v["vm-image"] ?? "ci"));
      agentEnv.NIMBUS_AGENT_DRIVERS = "sandbox,qemu";
      const net = String(v["vm-network"] ?? (process.getuid?.() === 0 ? "nat" : "none"));
      if (!["nat", "offline", "none"].includes(net)) throw new AppError("bad_request", "--vm-network must be nat, offline or none");
      agentEnv.NIMBUS_VM_NETWORK = net;
      if (net !== "none") {
        cacheEnv.NIMBUS_CACHE_HOST = "0.0.0.0";
        // GitHub jobs' VMs reach the cache through each agent's results-host gateway: blob URLs must name
        // the results host the guest asked for (X-Forwarded-Host), not the cache's own address.
        cacheEnv.NIMBUS_CACHE_TRUST_FORWARDED = "true";
      }
      if (v.demo && net !== "nat") ctx.err(`nimbus up: --demo with --vm-network ${net}: guests cannot reach the GitHub simulator, so the demo's runner runs in a sandbox (--vm-network nat, as root, runs it in a microVM)`);
    } else if (v.demo) {
      // The demo's runner is a sandbox job with a network: a namespace of its own on the agent's bridge, which needs root.
      if (process.getuid?.() === 0) agentEnv.NIMBUS_VM_NETWORK = "nat";
      else ctx.err("nimbus up: --demo not as root: the demo's runner needs a network namespace of its own, which needs root, so its job will be refused");
    }
    // Jobs with a network (microVMs, the demo's runner) reach the registry on their gateway, beyond loopback.
    if (agentEnv.NIMBUS_VM_NETWORK && agentEnv.NIMBUS_VM_NETWORK !== "none") registryEnv.NIMBUS_REGISTRY_HOST = "0.0.0.0";
    const controlEnv: Record<string, string> = {};
    // With guest networking the demo's runner runs in a microVM and reaches the simulator on its gateway.
    const vmGateway = v.vm && agentEnv.NIMBUS_VM_NETWORK === "nat" ? gatewayOf(parseCidr(ctx.env.NIMBUS_VM_SUBNET || DEFAULT_VM_SUBNET)) : undefined;
    const bridgeGateway = gatewayOf(parseCidr(ctx.env.NIMBUS_VM_SUBNET || DEFAULT_VM_SUBNET));
    const giteaDemo = v.demo && demoKind === "gitea" ? await startGiteaDemo({ controlUrl: `http://127.0.0.1:${ports(portBase).control}`, gateway: bridgeGateway, hostPorts: ctx.env.NIMBUS_VM_HOST_PORTS }) : undefined;
    if (giteaDemo) {
      Object.assign(controlEnv, giteaDemo.controlEnv);
      Object.assign(agentEnv, giteaDemo.agentEnv);
    }
    const demo = v.demo && !giteaDemo ? await startGithubDemo({ controlUrl: `http://127.0.0.1:${ports(portBase).control}`, vmGateway, network: agentEnv.NIMBUS_VM_NETWORK === "nat", hostPorts: ctx.env.NIMBUS_VM_HOST_PORTS }) : undefined;
    if (demo) {
      Object.assign(controlEnv, demo.controlEnv);
      Object.assign(agentEnv, demo.agentEnv);
    }
    const t0 = performance.now();
    const record = () =>
      writeState({
        pid: process.pid, startedAt, dataDir: stack.dataDir, controlUrl: stack.controlUrl, logsUrl: stack.logsUrl, cacheUrl: stack.cacheUrl, registryUrl: stack.registryUrl,
        natsUrl: stack.natsUrl, natsMonitorUrl: `http://127.0.0.1:${ports(portBase).natsMonitor}`, adminToken: stack.adminToken,
        services: Object.fromEntries([...stack.children].map(([name, c]) => [name, c.proc.pid])),
      });
    const startedAt = Date.now();
    const onEvent = (m: string) => {
      ctx.err(`nimbus up: ${m}`);
      if (m.endsWith(" restarted")) record();
    };
    const stack = await startStack({ dataDir: ctx.dataDir, portBase, agents, natsCluster, natsAuth, agentEnv, controlEnv, cacheEnv, registryEnv, restartOnCrash: true, onEvent });
    record();
    const api = new ApiClient(stack.controlUrl, stack.logsUrl, stack.adminToken);
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= (async () => {
      if (!ctx.json) ctx.err("\nstopping Nimbus…");
      const names = [...stack.children.keys()];
      await stack.stop();
      await demo?.stop();
      await giteaDemo?.stop();
      rmSync(stateFile(stack.dataDir), { force: true });
      const sim = demo ? ", the GitHub simulator" : giteaDemo ? ", the Gitea simulator" : "";
      if (!ctx.json) ctx.err(`Nimbus stopped: ${names.join(", ")}${sim} (${names.length + (demo || giteaDemo ? 1 : 0)} processes); state file removed`);
    })());
    process.on("SIGINT", () => void stop().then(() => process.exit(0)));
    process.on("SIGTERM", () => void stop().then(() => process.exit(0)));
    try {
      await waitForAgent(api, 10_000);
      printUp(ctx, stack, performance.now() - t0);
      if (demo) await runDemo(ctx, api, demo);
      if (giteaDemo) await runGiteaDemo(ctx, api, giteaDemo);
      if (v.sample || v["exit-after-sample"]) {
        const code = await runSample(ctx, api);
        if (v["exit-after-sample"]) return await stop(), code;
      }
    } catch (e) {
      await stop();
      throw e;
    }
    await new Promise(() => {}); // until a signal
    return 0;
  },
};
