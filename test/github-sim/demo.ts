/**
 * For `nimbus up --demo`: a GitHub simulator and the runner stand-in, with the environment the
 * control plane and agents need to use them. Start it before the stack (the webhook URL is the
 * control plane's), pass `controlEnv`/`agentEnv` to startStack, then `queueDemoJob()`.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildRunnerStandIn } from "./build.ts";
import { startGithubSim, type GithubSim, type SimJob } from "./sim.ts";

export interface GithubDemo {
  sim: GithubSim;
  controlEnv: Record<string, string>;
  agentEnv: Record<string, string>;
  queueDemoJob(): SimJob;
  stop(): Promise<void>;
}

/**
 * `network`: the agent gives jobs a network on its bridge (NIMBUS_VM_NETWORK=nat): a runner in a
 * sandbox has a network namespace of its own and reaches the simulator on its gateway, like a guest.
 * `vmGateway`: run the demo job's runner in a microVM. The guest reaches the simulator on its
 * gateway (the host's bridge address), so the simulator listens on all addresses and the agent
 * must allow its port (`agentEnv` adds it to NIMBUS_VM_HOST_PORTS).
 */
export async function startGithubDemo(o: { controlUrl: string; runnerDir?: string; vmGateway?: string; network?: boolean; hostPorts?: string }): Promise<GithubDemo> {
  const bridged = Boolean(o.vmGateway || o.network);
  const runnerDir = o.runnerDir ?? join(tmpdir(), "nimbus-gh-runner-standin");
  await buildRunnerStandIn(runnerDir);
  const sim = await startGithubSim({
    webhookUrl: `${o.controlUrl.replace(/\/$/, "")}/webhooks/github`, assignment: "fifo", org: "demo-org", repos: ["hello-nimbus"],
    ...(bridged ? { host: "0.0.0.0", runnerHost: o.vmGateway ?? "_gateway" } : {}),
  });
  const simPort = new URL(sim.url).port;
  return {
    sim,
    controlEnv: {
      NIMBUS_GITHUB_WEBHOOK_SECRET: sim.secret,
      NIMBUS_GITHUB_APP_ID: sim.appId,
      NIMBUS_GITHUB_APP_PRIVATE_KEY: sim.privateKeyPem,
      NIMBUS_GITHUB_API_URL: sim.url,
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "5000",
    },
    agentEnv: {
      NIMBUS_GITHUB_RUNNER_DIR: runnerDir,
      ...(bridged ? { NIMBUS_VM_HOST_PORTS: [o.hostPorts, simPort].filter(Boolean).join(",") } : {}),
    },
    queueDemoJob: () =>
      sim.queueJob({
        name: "demo / build",
        labels: ["self-hosted", "nimbus", ...(o.vmGateway ? ["isolation:vm"] : [])],
        steps: ["echo 'Hello from a Nimbus runner'", "uname -a", `echo 'steps run as shell commands in a fresh ${o.vmGateway ? "microVM" : "sandbox"}'`],
      }),
    stop: () => sim.stop(),
  };
}
