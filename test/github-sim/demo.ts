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

export async function startGithubDemo(o: { controlUrl: string; runnerDir?: string }): Promise<GithubDemo> {
  const runnerDir = o.runnerDir ?? join(tmpdir(), "nimbus-gh-runner-standin");
  await buildRunnerStandIn(runnerDir);
  const sim = await startGithubSim({ webhookUrl: `${o.controlUrl.replace(/\/$/, "")}/webhooks/github`, assignment: "fifo", org: "demo-org", repos: ["hello-nimbus"] });
  return {
    sim,
    controlEnv: {
      NIMBUS_GITHUB_WEBHOOK_SECRET: sim.secret,
      NIMBUS_GITHUB_APP_ID: sim.appId,
      NIMBUS_GITHUB_APP_PRIVATE_KEY: sim.privateKeyPem,
      NIMBUS_GITHUB_API_URL: sim.url,
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "5000",
    },
    agentEnv: { NIMBUS_GITHUB_RUNNER_DIR: runnerDir },
    queueDemoJob: () =>
      sim.queueJob({
        name: "demo / build",
        labels: ["self-hosted", "nimbus"],
        steps: ["echo 'Hello from a Nimbus runner'", "uname -a", "echo 'steps run as shell commands in a fresh sandbox'"],
      }),
    stop: () => sim.stop(),
  };
}
