/**
 * GitHub jobs land in their installation's organisation, whether a webhook or the reconciler's
 * poll (the webhook lost) created them, against a real stack and the GitHub simulator; a member
 * of that org sees them, a member of another org does not.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { JobRecord } from "../../src/jobs/record.ts";
import { githubStack, type GithubStack } from "../github/support.ts";
import { waitFor } from "../support/net.ts";

let g: GithubStack;

beforeAll(async () => {
  // No agents: the jobs wait queued, which is all this test needs. The account's login has capitals.
  g = await githubStack({ agents: 0, sim: { org: "Octo-Org" }, controlEnv: { NIMBUS_GITHUB_POLL_INTERVAL_MS: "300" } });
}, 120_000);

afterAll(async () => {
  await g?.destroy();
}, 60_000);

test("webhook and poll jobs are the installation's org's (lower-cased); other orgs do not see them", async () => {
  const hooked = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["true"] });
  const viaWebhook = await g.stack.waitJob(`gh-${hooked.id}`, () => true);
  expect(viaWebhook.github?.via).toBe("webhook");
  expect(viaWebhook.org).toBe("octo-org");

  // Every delivery lost, none recorded as failed (no redelivery): only the poll can find the next job.
  g.sim.webhookFaults = { drop: 1, dropRecorded: 0 };
  const polled = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["true"] });
  let viaPoll: JobRecord | undefined;
  await waitFor(async () => {
    const r = await g.stack.api<{ job: JobRecord }>(`/api/jobs/gh-${polled.id}`);
    viaPoll = r.status === 200 ? r.body.job : undefined;
    return !!viaPoll;
  }, 30_000, "the poll to create the job");
  expect(viaPoll!.github?.via).toBe("poll");
  expect(viaPoll!.org).toBe("octo-org");

  const member = await g.stack.token({ sub: "dev", role: "member", org: "octo-org", ttlSeconds: 600 });
  const outsider = await g.stack.token({ sub: "dev", role: "member", org: "globex", ttlSeconds: 600 });
  const seen = (await g.stack.api<{ jobs: JobRecord[] }>("/api/jobs", { token: member })).body.jobs.map((j) => j.id);
  expect(seen.sort()).toEqual([`gh-${hooked.id}`, `gh-${polled.id}`].sort());
  expect((await g.stack.api<{ jobs: JobRecord[] }>("/api/jobs", { token: outsider })).body.jobs).toEqual([]);
  expect((await g.stack.api(`/api/github/jobs/gh-${hooked.id}`, { token: outsider })).status).toBe(404);
  expect((await g.stack.api(`/api/github/jobs/gh-${hooked.id}`, { token: member })).status).toBe(200);
}, 90_000);
