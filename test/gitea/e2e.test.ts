/**
 * End to end (issue #16 part 4): a Gitea job and a GitHub job queued at the same time run on the same
 * agent, each in a real bubblewrap sandbox — the Gitea one through its webhook, the control plane
 * registering an ephemeral runner, the agent handing the sandbox its `.runner` file and the act_runner
 * stand-in (`daemon --once`) taking the task — and both succeed; the forge sees the task complete once,
 * and no runner (on either forge) or sandbox is left.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../support/net.ts";
import { githubStack, type GithubStack } from "../github/support.ts";
import { startGiteaSim, type GiteaSim } from "../gitea-sim/sim.ts";
import { buildForgeRunnerStandIn } from "../gitea-sim/build.ts";

const RUNNER_DIR = join(tmpdir(), "nimbus-forge-runner-standin");
const HOOK = "tea-e2e-webhook-secret-0123456789";
let g: GithubStack;
let tea: GiteaSim;

beforeAll(async () => {
  await buildForgeRunnerStandIn(RUNNER_DIR);
  tea = await startGiteaSim({ kind: "gitea", host: "0.0.0.0", webhookSecret: HOOK });
  const port = Number(new URL(tea.url).port);
  g = await githubStack({
    agents: 1,
    hostPorts: [port],
    controlEnvFor: (gw) => ({
      NIMBUS_FORGES: JSON.stringify([{ id: "tea", kind: "gitea", url: `http://127.0.0.1:${port}`, runnerUrl: `http://${gw}:${port}`, token: tea.rest.apiToken, webhookSecret: HOOK, org: "acme" }]),
      NIMBUS_FORGE_RUNNER_COMMAND: "/forge-runner/act_runner,daemon,--once",
    }),
    controlEnv: { NIMBUS_GITHUB_RECONCILE_INTERVAL_MS: "200", NIMBUS_GITHUB_POLL_INTERVAL_MS: "1000", NIMBUS_FORGE_POLL_INTERVAL_MS: "3600000" },
    agentEnv: { NIMBUS_FORGE_RUNNER_DIR: RUNNER_DIR },
  });
  tea.hooks.target = `${g.stack.controlUrl}/webhooks/forge/tea`;
}, 90_000);
afterAll(async () => {
  await g?.destroy();
  await tea?.stop();
}, 30_000);

test("a Gitea job and a GitHub job at the same time on one agent: both succeed, nothing left behind", async () => {
  const ghJob = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["echo hello from github", "sleep 1"] });
  const gtJob = tea.model.addJob({ repo: "acme/app", labels: ["nimbus"], steps: [{ name: "hello", run: "echo hello from gitea; uname -s" }, { name: "nap", run: "sleep 1" }] });
  const ghId = `gh-${ghJob.id}`;
  const gtId = `gt-tea-${gtJob.id}`;
  await waitFor(async () => (await g.stack.api(`/api/jobs/${gtId}`)).status === 200 && (await g.stack.api(`/api/jobs/${ghId}`)).status === 200, 10_000, "both jobs created");
  const [gh, gt] = await Promise.all([g.stack.waitJob(ghId, undefined, 90_000), g.stack.waitJob(gtId, undefined, 90_000)]);
  if (gt.state !== "succeeded") console.log("GITEA JOB", JSON.stringify({ exit: gt.exitCode, reason: gt.reason }), JSON.stringify((await g.stack.logs(gtId))?.map((l) => l.text)));
  expect([gh.state, gt.state, gt.reason]).toEqual(["succeeded", "succeeded", undefined]);
  expect(gh.agentId).toBe(gt.agentId);
  expect(gt).toMatchObject({ source: "gitea", org: "acme", forge: { forgeId: "tea", jobId: gtJob.id } });

  const task = tea.model.tasks.get(tea.model.jobs.get(gtJob.id)!.taskId!)!;
  expect(tea.model.jobs.get(gtJob.id)).toMatchObject({ status: "success", runnerName: `nimbus-${gtId}-1` });
  expect([task.finals, task.logDone]).toEqual([1, true]);
  expect(task.rows).toContain("hello from gitea");
  expect(task.rows).toContain("Linux");

  let lines: { text: string }[] = [];
  await waitFor(async () => (lines = (await g.stack.logs(gtId)) ?? []).some((l) => l.text.includes("hello from gitea")), 10_000, "Gitea job's logs shipped");
  const text = lines.map((l) => l.text).join("\n");
  expect(text).not.toContain(tea.rest.apiToken);
  expect(text).not.toContain(tea.model.registrationToken({ level: "instance" }));

  await waitFor(() => g.sim.runners.size === 0 && g.sandboxes() === 0, 15_000, "no GitHub runner or sandbox left");
  expect([...tea.model.runners.values()].filter((r) => !r.deleted)).toEqual([]);
}, 120_000);
