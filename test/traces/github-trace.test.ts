/**
 * A GitHub job's trace: a simulated workflow_job → webhook → a JIT runner in a real sandbox → GitHub
 * assigns it → it completes; the receiver in this test gets the webhook receipt, the runner's
 * registration and GitHub's assignment as spans of the job's one trace.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { waitFor } from "../support/net.ts";
import { githubStack, type GithubStack } from "../github/support.ts";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.ts";
import { parseTraceparent } from "../../src/core/trace/traceparent.ts";

let g: GithubStack;
let rx: OtlpReceiver;
beforeAll(async () => {
  rx = startOtlpReceiver();
  const otel = { NIMBUS_OTEL_EXPORTER_ENDPOINT: rx.url };
  g = await githubStack({ agents: 1, controlEnv: { ...otel, NIMBUS_GITHUB_RECONCILE_INTERVAL_MS: "200", NIMBUS_GITHUB_POLL_INTERVAL_MS: "1000" }, agentEnv: otel });
}, 60_000);
afterAll(async () => {
  await g?.destroy();
  await rx?.stop();
}, 30_000);

test("webhook receipt, queue, lease, boot, runner registration, assignment, run and teardown in one trace", async () => {
  const ghJob = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["echo traced step"] });
  const id = `gh-${ghJob.id}`;
  await waitFor(async () => (await g.stack.api(`/api/jobs/${id}`)).status === 200, 10_000, "job created from the webhook");
  const job = await g.stack.waitJob(id, undefined, 60_000);
  expect(job.state).toBe("succeeded");
  const tp = parseTraceparent(job.trace?.traceparent)!;
  expect(tp.sampled).toBe(true);

  const want = ["job", "webhook", "queue", "attempt", "lease", "handout", "boot", "runner.registration", "assignment", "run", "teardown"];
  let mine: ReceivedSpan[] = [];
  await waitFor(() => want.every((n) => (mine = rx.spans.filter((x) => x.traceId === tp.traceId)).some((x) => x.name === n)), 20_000, "the GitHub job's spans");
  expect(mine.map((x) => x.name).sort()).toEqual([...want].sort());
  const by = Object.fromEntries(mine.map((x) => [x.name, x])) as Record<string, ReceivedSpan>;
  expect(by.job!.spanId).toBe(tp.spanId);
  for (const n of ["webhook", "queue", "attempt"]) expect(by[n]!.parentSpanId).toBe(tp.spanId);
  for (const n of ["lease", "handout", "boot", "runner.registration", "assignment", "run", "teardown"]) expect(by[n]!.parentSpanId).toBe(by.attempt!.spanId);
  const order = ["webhook", "queue", "lease", "boot", "runner.registration", "assignment", "run", "teardown"].map((n) => by[n]!);
  for (let i = 1; i < order.length; i++) expect(order[i]!.start).toBeGreaterThanOrEqual(order[i - 1]!.end - 1);
  expect(by.webhook!.attributes).toMatchObject({ "nimbus.job.source": "github", "nimbus.github.via": "webhook" });
  expect(by.job!.attributes).toMatchObject({ "nimbus.job.id": id, "nimbus.job.outcome": "succeeded" });
  // No token, JIT config or secret of the simulator in any span.
  const all = JSON.stringify(rx.spans);
  expect(all).not.toContain(g.sim.secret);
  expect(all).not.toContain("JITCONFIG");
}, 90_000);
