/**
 * For `nimbus up --demo gitea`: a Gitea simulator and the act_runner stand-in, with the environment
 * the control plane and agents need to use them (one forge connection `demo`, org `demo-org`). The
 * runner runs in a sandbox job with a network of its own on the agent's bridge, and reaches the
 * simulator on its gateway (the host's bridge address: the connection's runnerUrl); the control plane
 * calls it on loopback.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildForgeRunnerStandIn } from "./build.ts";
import { startGiteaSim, type GiteaSim } from "./sim.ts";
import type { SimJob } from "./model.ts";

export interface GiteaDemo {
  sim: GiteaSim;
  controlEnv: Record<string, string>;
  agentEnv: Record<string, string>;
  queueDemoJob(): SimJob;
  stop(): Promise<void>;
}

export async function startGiteaDemo(o: { controlUrl: string; gateway: string; hostPorts?: string }): Promise<GiteaDemo> {
  const runnerDir = join(tmpdir(), "nimbus-forge-runner-standin");
  await buildForgeRunnerStandIn(runnerDir);
  const secret = "demo-gitea-webhook-secret-0123456789";
  const sim = await startGiteaSim({ kind: "gitea", host: "0.0.0.0", webhookSecret: secret, webhookTarget: `${o.controlUrl.replace(/\/$/, "")}/webhooks/forge/demo` });
  const port = new URL(sim.url).port;
  return {
    sim,
    controlEnv: {
      NIMBUS_FORGES: JSON.stringify([{ id: "demo", kind: "gitea", url: `http://127.0.0.1:${port}`, runnerUrl: `http://${o.gateway}:${port}`, token: sim.rest.apiToken, webhookSecret: secret, org: "demo-org" }]),
      NIMBUS_FORGE_RUNNER_COMMAND: "/forge-runner/act_runner,daemon,--once",
      NIMBUS_FORGE_POLL_INTERVAL_MS: "5000",
    },
    agentEnv: { NIMBUS_FORGE_RUNNER_DIR: runnerDir, NIMBUS_VM_HOST_PORTS: [o.hostPorts, port].filter(Boolean).join(",") },
    queueDemoJob: () =>
      sim.model.addJob({
        repo: "demo-org/hello-nimbus",
        name: "build",
        labels: ["nimbus"],
        steps: [{ name: "hello", run: "echo 'Hello from a Gitea runner on Nimbus'" }, { name: "where", run: "uname -a" }],
      }),
    stop: () => sim.stop(),
  };
}
