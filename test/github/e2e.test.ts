/**
 * End to end: a simulated workflow_job → a JIT runner in a real bubblewrap sandbox → the job's
 * steps run → GitHub (the simulator) sees it complete → the Nimbus job succeeded, its logs are
 * in the log service, the latency breakdown is complete, and nothing is left behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { waitFor } from "../support/net.ts";
import { githubStack, type GithubStack } from "./support.ts";

let g: GithubStack;
beforeAll(async () => {
  g = await githubStack({ agents: 1, controlEnv: { NIMBUS_GITHUB_RECONCILE_INTERVAL_MS: "200", NIMBUS_GITHUB_POLL_INTERVAL_MS: "1000" } });
}, 60_000);
afterAll(async () => {
  await g?.destroy();
}, 30_000);

test("a workflow job runs on a fresh JIT runner in a sandbox and completes, with logs and a latency breakdown", async () => {
  const ghJob = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["echo hello from step one", "echo runner=$RUNNER_NAME; uname -s", "test -n \"$ACTIONS_RUNNER_INPUT_JITCONFIG\" && echo has-jit"] });
  const id = `gh-${ghJob.id}`;
  await waitFor(async () => (await g.stack.api(`/api/jobs/${id}`)).status === 200, 10_000, "job created from the webhook");
  const job = await g.stack.waitJob(id, undefined, 60_000);
  expect(job.state).toBe("succeeded");
  expect(ghJob).toMatchObject({ status: "completed", conclusion: "success", assignments: 1, completions: 1, runner_name: `nimbus-${id}-1` });
  expect(job.github).toMatchObject({ conclusion: "success", ranOn: { runnerName: `nimbus-${id}-1` } });
  expect(job.github!.runners).toEqual([{ attempt: 1, runnerName: `nimbus-${id}-1`, runnerId: ghJob.runner_id!, tookJobId: ghJob.id }]);

  let lines: { text: string }[] = [];
  await waitFor(async () => (lines = (await g.stack.logs(id)) ?? []).some((l) => l.text.includes("completed with result")), 10_000, "logs shipped");
  const text = lines.map((l) => l.text);
  expect(text).toContain("hello from step one");
  expect(text).toContain("Linux");
  expect(text).toContain("has-jit");
  expect(text.join("\n")).not.toContain(g.sim.secret);

  const details = (await g.stack.api(`/api/github/jobs/${id}`)).body;
  expect(details.facts).toMatchObject({ status: "completed", conclusion: "success" });
  const names = details.latency.points.map((p: { name: string }) => p.name);
  expect(names).toEqual(["github_created", "received", "queued", "leased", "boot_start", "runner_registered", "assigned", "completed"]);
  expect(details.latency.spans.startupMs).toBeGreaterThanOrEqual(0);

  await waitFor(() => g.sim.runners.size === 0 && g.sandboxes() === 0, 10_000, "no runner or sandbox left");
  // The reconciler leader records the histograms on its own pass: wait for it.
  const metrics = () => fetch(`${g.stack.controlUrl}/metrics`).then((r) => r.text());
  // Each histogram is recorded when the reconciler's pass sees its points (the queue span needs GitHub's
  // in_progress): wait for both rather than assume one pass records them together.
  await waitFor(async () => /nimbus_github_runner_startup_seconds_count 1/.test(await metrics()), 20_000, "the startup histogram");
  await waitFor(async () => /nimbus_github_job_queue_seconds_count 1/.test(await metrics()), 20_000, "the queue histogram");
}, 90_000);
