/** A GitHub simulator wired to a real single-host stack (nats-server, control, logs, agents as processes). */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { freePortBase, testStack, type TestStack } from "../support/stack.ts";
import { findInstancePids } from "../../agent/drivers/sandbox/procs.ts";
import { startGithubSim, type GithubSim, type SimOptions } from "../github-sim/sim.ts";
import { buildRunnerStandIn } from "../github-sim/build.ts";
import { gatewayOf, parseCidr } from "../../src/vm/subnet.ts";

export interface GithubStack {
  sim: GithubSim;
  stack: TestStack;
  agents: string[];
  sandboxRoot: string;
  /** Sandboxes (processes or directories) still present for our agents. */
  sandboxes(): number;
  destroy(): Promise<void>;
}

const RUNNER_DIR = join(tmpdir(), "nimbus-gh-runner-standin");

export async function githubStack(o: {
  agents: number;
  slots?: number;
  sim?: Partial<SimOptions>;
  controlEnv?: Record<string, string>;
  agentEnv?: Record<string, string>;
  registryEnv?: Record<string, string>;
  /** More ports on the bridge address sandboxes may reach (another forge's simulator). */
  hostPorts?: number[];
  /** Control-plane settings that name the first agent's bridge address (where sandboxes reach the host). */
  controlEnvFor?: (gateway: string) => Record<string, string>;
}): Promise<GithubStack> {
  await buildRunnerStandIn(RUNNER_DIR);
  const base = await freePortBase();
  // Runners run in sandbox jobs' own network namespaces, on each agent's bridge: they reach the
  // simulator on their gateway (its port allowed by the agent's egress policy), never on loopback.
  const sim = await startGithubSim({ webhookUrl: `http://127.0.0.1:${base}/webhooks/github`, host: "0.0.0.0", runnerHost: "_gateway", ...o.sim });
  const tag = randomBytes(3).toString("hex");
  // Each agent its own bridge and subnet (a random one: other stacks may run on this host at once).
  const octet = 64 + (parseInt(tag, 16) % 128);
  const sandboxRoot = mkdtempSync(join(tmpdir(), "nimbus-gh-sbx-"));
  const { chmodSync } = await import("node:fs");
  chmodSync(sandboxRoot, 0o711);
  const stack = await testStack({
    portBase: base,
    agents: 0,
    registryEnv: o.registryEnv,
    controlEnv: {
      NIMBUS_GITHUB_WEBHOOK_SECRET: sim.secret,
      NIMBUS_GITHUB_APP_ID: sim.appId,
      NIMBUS_GITHUB_APP_PRIVATE_KEY: sim.privateKeyPem,
      NIMBUS_GITHUB_API_URL: sim.url,
      NIMBUS_GITHUB_RETRY_BASE_MS: "50",
      ...o.controlEnvFor?.(gatewayOf(parseCidr(`10.${octet}.0.0/24`))),
      ...o.controlEnv,
    },
    agentEnv: {
      NIMBUS_GITHUB_RUNNER_DIR: RUNNER_DIR,
      NIMBUS_GITHUB_RETRY_BASE_MS: "50",
      NIMBUS_SANDBOX_DIR: sandboxRoot,
      NIMBUS_AGENT_SLOTS: String(o.slots ?? 2),
      ...o.agentEnv,
    },
  });
  const agents = Array.from({ length: o.agents }, (_, i) => `gh${tag}-a${i + 1}`);
  for (const [i, a] of agents.entries())
    await stack.startAgent(a, {
      NIMBUS_VM_NETWORK: "nat",
      NIMBUS_VM_BRIDGE: `nmbg${tag}${i}`,
      NIMBUS_VM_SUBNET: `10.${octet}.${i}.0/24`,
      NIMBUS_VM_HOST_PORTS: [new URL(sim.url).port, ...(o.hostPorts ?? [])].join(","),
    });
  await stack.waitAgents(o.agents);
  return {
    sim,
    stack,
    agents,
    sandboxRoot,
    sandboxes() {
      let n = 0;
      for (const name of agents) {
        const a = stack.agentId(name); // sandboxes are marked with the agent's id, not its process name
        n += findInstancePids(undefined, a).size;
        const dir = join(sandboxRoot, a);
        if (existsSync(dir)) n += readdirSync(dir).filter((d) => d.startsWith("nimbus-")).length;
      }
      return n;
    },
    async destroy() {
      await stack.destroy();
      await sim.stop();
      rmSync(sandboxRoot, { recursive: true, force: true });
    },
  };
}
