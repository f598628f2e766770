/**
 * The workflow's own output for GitHub jobs: when a job ends, the control plane fetches its log from
 * GitHub (the simulator: the runner stand-in uploads it with its completion; GitHub's redirect to the
 * text, first answered 404 as GitHub's often is) and stores it as attempt 0 of the job, with steps from
 * the `##[group]` headers, levels, the job's repository, workflow and branch, searchable across the org.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseJobLog } from "../../src/github/job-log.ts";
import { waitFor } from "../support/net.ts";
import { githubStack, type GithubStack } from "./support.ts";

describe("a GitHub job log's text", () => {
  test("lines after their times, a BOM dropped, unstamped lines taking the time before, long lines cut", () => {
    const text = "\uFEFF2026-12-03T10:00:00.1234567Z ##[group]Run npm test\n2026-12-03T10:00:01.5000000Z ok\ncontinued\n" + `2026-12-03T10:00:02Z ${"x".repeat(70_000)}\n`;
    const lines = parseJobLog(text, 5);
    expect(lines.map((l) => [l.n, l.ts, l.text.slice(0, 20)])).toEqual([
      [0, Date.UTC(2026, 11, 3, 10, 0, 0, 123), "##[group]Run npm tes"],
      [1, Date.UTC(2026, 11, 3, 10, 0, 1, 500), "ok"],
      [2, Date.UTC(2026, 11, 3, 10, 0, 1, 500), "continued"],
      [3, Date.UTC(2026, 11, 3, 10, 0, 2), "xxxxxxxxxxxxxxxxxxxx"],
    ]);
    expect(lines[3]!.text.length).toBe(65_536);
    expect(parseJobLog("no stamp\n", 42)).toEqual([{ n: 0, ts: 42, stream: "out", text: "no stamp" }]);
    expect(parseJobLog("", 1)).toEqual([]);
  });
});

let g: GithubStack;
beforeAll(async () => {
  g = await githubStack({ agents: 1, controlEnv: { NIMBUS_GITHUB_RECONCILE_INTERVAL_MS: "200", NIMBUS_GITHUB_POLL_INTERVAL_MS: "1000" } });
  g.sim.webhookFaults = { logs404: 2 };
}, 60_000);
afterAll(async () => {
  await g?.destroy();
}, 30_000);

test("an ended job's GitHub log is stored as attempt 0, with steps, levels and the job's fields; searchable in its org", async () => {
  const ghJob = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["echo compiling widget", "echo 'widget check failed' >&2; exit 3"] });
  const id = `gh-${ghJob.id}`;
  await waitFor(async () => (await g.stack.api(`/api/jobs/${id}`)).status === 200, 10_000, "job created from the webhook");
  const job = await g.stack.waitJob(id, undefined, 60_000);
  expect(job.state).toBe("failed");
  let lines: { attempt: number; text: string }[] = [];
  await waitFor(async () => (lines = ((await g.stack.logs(id)) ?? []) as typeof lines).some((l) => l.attempt === 0), 20_000, "the GitHub log stored");
  const gh = lines.filter((l) => l.attempt === 0).map((l) => l.text);
  expect(gh).toEqual(["##[group]Run echo compiling widget", "##[endgroup]", "compiling widget", "##[group]Run echo 'widget check failed' >&2; exit 3", "##[endgroup]", "widget check failed", "##[error]Process completed with exit code 3.", "Cleaning up orphan processes"]);
  expect(lines.some((l) => l.attempt === 1)).toBe(true); // the runner process's own output stays beside it
  // GitHub said 404 twice first; the text came from the redirect, fetched without our token.
  expect(ghJob.logRequests).toBe(3);
  expect(g.sim.logDownloads.map((d) => d.auth)).toEqual([null]);
  const member = await g.stack.token({ sub: "dev", role: "member", org: "octo-org", ttlSeconds: 600 });
  const found = await fetch(`${g.stack.logsUrl}/v1/logs/search?q=${encodeURIComponent('level:error step:"Run echo \'widget check failed\' >&2; exit 3"')}`, { headers: { authorization: `Bearer ${member}` } }).then((r) => r.json()) as { lines: Record<string, unknown>[] };
  // Found in GitHub's log (attempt 0) and in the runner's own output that the agent shipped (attempt 1).
  expect(found.lines.map((l) => l.attempt).sort()).toEqual([0, 1]);
  expect(found.lines.find((l) => l.attempt === 0)).toMatchObject({ jobId: id, attempt: 0, org: "octo-org", repo: `octo-org/${ghJob.repo}`, workflow: ghJob.workflow_name, job: ghJob.name, branch: "main", level: "error", status: "failed" });
  const other = await g.stack.token({ sub: "dev2", role: "member", org: "other-org", ttlSeconds: 600 });
  expect(((await fetch(`${g.stack.logsUrl}/v1/logs/search?q=widget`, { headers: { authorization: `Bearer ${other}` } }).then((r) => r.json())) as { lines: unknown[] }).lines).toEqual([]);
}, 90_000);
