/**
 * One job's trace through a real stack (nats-server, control plane, log service, agent as processes),
 * exported over OTLP/HTTP protobuf to a receiver in this test: one trace id, the right tree, the job
 * handed its run span as TRACEPARENT; sampling ratio 0 exports nothing; an unreachable receiver costs
 * jobs nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { testStack, type TestStack } from "../support/stack.ts";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.ts";
import { waitFor } from "../support/net.ts";
import { newJobTrace, parseTraceparent } from "../../src/core/trace/traceparent.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { openTopology, queueSubject } from "../../src/nats/topology.ts";
import { traceHeaders } from "../../src/nats/trace-headers.ts";
import { JobStore } from "../../src/jobs/store.ts";
import { submitJob } from "../../src/jobs/submit.ts";

const otel = (url: string, extra: Record<string, string> = {}) => ({ NIMBUS_OTEL_EXPORTER_ENDPOINT: url, ...extra });

describe("a job's trace", () => {
  let rx: OtlpReceiver;
  let s: TestStack;
  beforeAll(async () => {
    rx = startOtlpReceiver();
    const env = otel(rx.url, { NIMBUS_OTEL_EXPORTER_HEADERS: "Authorization=Bearer otel-test-token,x-tenant=nimbus%20ci" });
    s = await testStack({ agents: 1, controlEnv: env, agentEnv: env });
    await s.waitAgents(1);
  }, 30_000);
  afterAll(async () => {
    await s?.destroy();
    await rx?.stop();
  }, 30_000);

  test("one trace, the lifecycle as a tree of spans, and the job saw its run span as TRACEPARENT", async () => {
    const job = await s.submit({ command: ["sh", "-c", 'echo "tp=$TRACEPARENT"'], env: { PLAIN_VALUE: "env-value-never-in-spans" }, secrets: { API_TOKEN: "secret-never-in-spans" } });
    const tp = parseTraceparent(job.trace?.traceparent)!;
    expect(tp).toMatchObject({ sampled: true });
    const done = await s.waitJob(job.id);
    expect(done.state).toBe("succeeded");

    const want = ["job", "queue", "attempt", "lease", "handout", "boot", "run", "teardown"];
    let mine: ReceivedSpan[] = [];
    await waitFor(() => {
      mine = rx.spans.filter((x) => x.traceId === tp.traceId);
      return want.every((n) => mine.some((x) => x.name === n));
    }, 15_000, "the job's spans");
    // Nothing else of this job went to another trace, and no span came twice.
    expect(rx.spans.filter((x) => x.attributes["nimbus.job.id"] === job.id).every((x) => x.traceId === tp.traceId)).toBe(true);
    expect(mine.map((x) => x.name).sort()).toEqual([...want].sort());

    const by = Object.fromEntries(mine.map((x) => [x.name, x])) as Record<string, ReceivedSpan>;
    // The tree: the job's span is the traceparent's; queue and attempt under it; the attempt's steps under the attempt.
    expect(by.job!.spanId).toBe(tp.spanId);
    expect(by.job!.parentSpanId).toBe("");
    expect(by.queue!.parentSpanId).toBe(by.job!.spanId);
    expect(by.attempt!.parentSpanId).toBe(by.job!.spanId);
    for (const n of ["lease", "handout", "boot", "run", "teardown"]) expect(by[n]!.parentSpanId).toBe(by.attempt!.spanId);
    // Who exported what: the control plane its handout answer; the agent wrote the job's end, so its span too.
    expect(by.handout!.service).toBe("nimbus-control");
    expect(by.run!.service).toBe("nimbus-agent");
    // In order, each inside its parent.
    const order = ["queue", "lease", "boot", "run", "teardown"].map((n) => by[n]!);
    for (let i = 1; i < order.length; i++) expect(order[i]!.start).toBeGreaterThanOrEqual(order[i - 1]!.end - 1);
    for (const x of mine) {
      expect(x.end).toBeGreaterThanOrEqual(x.start);
      expect(x.start).toBeGreaterThanOrEqual(by.job!.start - 1);
      expect(x.end).toBeLessThanOrEqual(by.job!.end + 1000); // the teardown may end after the job's record did
    }
    expect(by.handout!.start).toBeGreaterThanOrEqual(by.lease!.end - 1);
    // Bounded attributes, and none of the job's env or secret values.
    expect(by.job!.attributes).toMatchObject({ "nimbus.job.id": job.id, "nimbus.org": done.org, "nimbus.pool": done.pool, "nimbus.job.source": "direct", "nimbus.job.outcome": "succeeded" });
    expect(by.run!.attributes).toMatchObject({ "nimbus.job.attempt": 1, "nimbus.agent.id": done.agentId!, "nimbus.job.exit_code": 0 });
    const all = JSON.stringify(rx.spans);
    expect(all).not.toContain("env-value-never-in-spans");
    expect(all).not.toContain("secret-never-in-spans");
    // The job's own telemetry would join the trace under the run span.
    const lines = (await s.logs(job.id)).map((l) => l.text);
    expect(lines).toEqual([`tp=00-${tp.traceId}-${by.run!.spanId}-01`]);
    // `nimbus jobs show` names the trace, to look it up in the tracing backend.
    const cli = Bun.spawnSync([process.execPath, "run", "src/cli/main.ts", "jobs", "show", job.id], { env: { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken }, stdout: "pipe", stderr: "pipe" });
    expect(cli.stdout.toString()).toContain(`trace    ${tp.traceId}\n`);
    // The exporter's headers came from NIMBUS_OTEL_EXPORTER_HEADERS (percent-decoded).
    const sent = rx.requests.find((r) => r.path === "/v1/traces")!;
    expect(sent.contentType).toBe("application/x-protobuf");
    expect(sent.headers.get("authorization")).toBe("Bearer otel-test-token");
    expect(sent.headers.get("x-tenant")).toBe("nimbus ci");
  }, 60_000);

  test("a forged context is not followed: a submitted `trace` is refused, a queue header naming another trace is overruled by the record", async () => {
    const forgedSpec = await s.api("/api/jobs", { method: "POST", json: { command: ["true"], trace: { traceparent: `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01` } } });
    expect(forgedSpec.status).toBeGreaterThanOrEqual(400);
    expect(forgedSpec.status).toBeLessThan(500);
    // A record with its own trace, whose queue message carries a header naming another trace.
    const nc = await connectNats({ url: s.natsUrl, ...s.natsAuth, name: "test-forger" });
    try {
      const t = await openTopology(nc);
      const forged = newJobTrace(1).traceparent;
      const store = new JobStore(t.jobs, t.js, undefined, undefined, undefined, async (j) => {
        await t.js.publish(queueSubject(j.pool), new TextEncoder().encode(JSON.stringify({ jobId: j.id, attempt: j.attempt })), { msgID: `${j.id}:${j.attempt}`, headers: traceHeaders(forged) });
      }, { newTrace: () => newJobTrace(1), ended: () => {} });
      const { job } = await submitJob({ store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" }, maxAttempts: 1 }, { command: ["sh", "-c", 'echo "tp=$TRACEPARENT"'], env: {}, secrets: {}, labels: ["nimbus"], timeoutSeconds: 60 }, { sub: "forger", org: "default" });
      const tp = parseTraceparent(job.value.trace!.traceparent)!;
      expect((await s.waitJob(job.value.id)).state).toBe("succeeded");
      await waitFor(() => rx.spans.some((x) => x.traceId === tp.traceId && x.name === "teardown"), 15_000, "the record's trace");
      expect(rx.spans.filter((x) => x.traceId === parseTraceparent(forged)!.traceId)).toEqual([]);
      expect((await s.logs(job.value.id)).map((l) => l.text)[0]).toStartWith(`tp=00-${tp.traceId}-`);
    } finally {
      await nc.close();
    }
  }, 30_000);

  test("a job cancelled in the queue is a job span and a queue wait, no attempt", async () => {
    // No agent serves this pool: the job waits until it is cancelled.
    const job = await s.submit({ command: ["true"], labels: ["nimbus", "gpu"] });
    const tp = parseTraceparent(job.trace?.traceparent)!;
    expect((await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" })).status).toBeLessThan(300);
    await s.waitJob(job.id);
    let mine: ReceivedSpan[] = [];
    await waitFor(() => (mine = rx.spans.filter((x) => x.traceId === tp.traceId)).length >= 2, 10_000, "the cancelled job's spans");
    expect(mine.map((x) => x.name).sort()).toEqual(["job", "queue"]);
    expect(mine.find((x) => x.name === "job")!.attributes["nimbus.job.outcome"]).toBe("cancelled");
    expect(mine.find((x) => x.name === "queue")!.parentSpanId).toBe(tp.spanId);
  }, 30_000);
});

describe("an agent killed mid-job", () => {
  let rx: OtlpReceiver;
  let s: TestStack;
  beforeAll(async () => {
    rx = startOtlpReceiver();
    const env = otel(rx.url);
    s = await testStack({ agents: 2, controlEnv: env, agentEnv: env });
    await s.waitAgents(2);
  }, 30_000);
  afterAll(async () => {
    await s?.destroy();
    await rx?.stop();
  }, 30_000);

  test("both attempts in the job's one trace: the lost one reported by the sweeper, its finished steps under it", async () => {
    const job = await s.submit({ command: ["sh", "-c", "sleep 3; echo finished"] });
    const tp = parseTraceparent(job.trace?.traceparent)!;
    const running = await s.waitJob(job.id, (j) => j.state === "running");
    await Bun.sleep(1500); // the agent's batch of finished steps (queue, lease, boot) goes out
    process.kill(s.children.get(running.agentId!.replace(/-[0-9a-f]{6}$/, ""))!.proc.pid, "SIGKILL");
    const done = await s.waitJob(job.id, undefined, 30_000);
    expect(done).toMatchObject({ state: "succeeded", attempt: 2 });

    let mine: ReceivedSpan[] = [];
    const count = (n: string) => mine.filter((x) => x.name === n).length;
    await waitFor(() => {
      mine = rx.spans.filter((x) => x.traceId === tp.traceId);
      return count("job") === 1 && count("attempt") === 2 && count("teardown") === 1;
    }, 15_000, "both attempts' spans");
    const attempts = mine.filter((x) => x.name === "attempt").sort((a, b) => a.start - b.start);
    expect(attempts.map((x) => [x.attributes["nimbus.job.attempt"], x.attributes["nimbus.job.outcome"], x.service, x.parentSpanId])).toEqual([
      [1, "lost", "nimbus-control", tp.spanId],
      [2, "succeeded", "nimbus-agent", tp.spanId],
    ]);
    expect(attempts[0]!.attributes["nimbus.agent.id"]).toBe(running.agentId!);
    // Attempt 1's finished steps, sent by the agent before it died, hang under the sweeper's attempt span.
    const under = (a: ReceivedSpan) => mine.filter((x) => x.parentSpanId === a.spanId).map((x) => x.name).sort();
    expect(under(attempts[0]!)).toEqual(["boot", "handout", "lease"]);
    expect(under(attempts[1]!)).toEqual(["boot", "handout", "lease", "run", "teardown"]);
    expect(mine.filter((x) => x.name === "queue").sort((a, b) => a.start - b.start).map((x) => [x.attributes["nimbus.job.attempt"], x.parentSpanId])).toEqual([[1, tp.spanId], [2, tp.spanId]]);
    expect(count("job")).toBe(1);
  }, 60_000);
});

describe("sampling ratio 0", () => {
  let rx: OtlpReceiver;
  let s: TestStack;
  beforeAll(async () => {
    rx = startOtlpReceiver();
    const env = otel(rx.url, { NIMBUS_OTEL_SAMPLER_RATIO: "0" });
    s = await testStack({ agents: 1, controlEnv: env, agentEnv: { ...env, NIMBUS_OTEL_SAMPLER_RATIO: "1" } });
    await s.waitAgents(1);
  }, 30_000);
  afterAll(async () => {
    await s?.destroy();
    await rx?.stop();
  }, 30_000);

  test("exports nothing (the agent follows the job's decision, whatever its own ratio), and the job still gets its unsampled TRACEPARENT", async () => {
    const job = await s.submit({ command: ["sh", "-c", 'echo "tp=$TRACEPARENT"'] });
    const tp = parseTraceparent(job.trace?.traceparent)!;
    expect(tp.sampled).toBe(false);
    expect((await s.waitJob(job.id)).state).toBe("succeeded");
    const [line] = (await s.logs(job.id)).map((l) => l.text);
    expect(line).toMatch(new RegExp(`^tp=00-${tp.traceId}-[0-9a-f]{16}-00$`));
    await Bun.sleep(2500); // past the batch delay of both processes
    expect(rx.spans).toEqual([]);
  }, 30_000);
});

describe("an unreachable receiver", () => {
  let s: TestStack;
  let hole: Server;
  const held: Socket[] = [];
  beforeAll(async () => {
    // The control plane exports to a port nothing listens on (refused at once); the agent to one that
    // accepts connections and never answers (every export waits out its timeout).
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    hole = createServer((sock) => void held.push(sock));
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    s = await testStack({
      agents: 1,
      controlEnv: otel(`http://127.0.0.1:${closed}`, { NIMBUS_OTEL_EXPORTER_HEADERS: "authorization=Bearer hunter2-export" }),
      agentEnv: otel(`http://127.0.0.1:${(hole.address() as AddressInfo).port}`),
    });
    await s.waitAgents(1);
  }, 30_000);
  afterAll(async () => {
    await s?.destroy();
    for (const sock of held) sock.destroy();
    hole?.close();
  }, 30_000);

  test("never slows or fails a job (refused or unanswered exports)", async () => {
    const t0 = Date.now();
    const jobs = await Promise.all([1, 2, 3].map((i) => s.submit({ command: ["sh", "-c", `echo job ${i}`] })));
    const done = await Promise.all(jobs.map((j) => s.waitJob(j.id, undefined, 15_000)));
    expect(done.map((j) => j.state)).toEqual(["succeeded", "succeeded", "succeeded"]);
    for (const j of done) expect(j.updatedAt - j.createdAt).toBeLessThan(5000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Later jobs, while the first exports still hang, run just as well.
    await Bun.sleep(1500);
    expect(held.length).toBeGreaterThan(0); // the agent did try to export, and is left hanging
    const t1 = Date.now();
    const again = await s.waitJob((await s.submit({ command: ["true"] })).id, undefined, 10_000);
    expect(again.state).toBe("succeeded");
    expect(Date.now() - t1).toBeLessThan(5000);
    expect((await s.logs(done[0]!.id)).map((l) => l.text)).toEqual(["job 1"]);
    // The refused exports are reported in the control plane's log (at most once a minute), never with the export headers.
    const controlLog = () => readFileSync(join(s.dataDir, "logs", "control.log"), "utf8");
    await waitFor(() => controlLog().includes("trace export failed"), 5000, "the export failure in the log");
    expect(controlLog().split("trace export failed").length - 1).toBe(1);
    expect(controlLog()).not.toContain("hunter2");
  }, 40_000);
});
